// Next-token selection: greedy, temperature, top-k, top-p, with a per-sequence seeded generator so
// that a sequence's tokens depend only on its logits, its parameters and its seed.
import Foundation

/// xoshiro256** seeded through SplitMix64 (public-domain algorithms by Blackman and Vigna).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// A uniform double in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * (1.0 / Double(1 << 53)) }
}

/// How to pick the next token.
public struct SamplingParameters: Equatable, Sendable, Codable {
    /// 0 means greedy (argmax).
    public var temperature: Double
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `topP` (1 = off).
    public var topP: Double
    /// Keep the `topK` most likely tokens (0 = off).
    public var topK: Int
    public var seed: UInt64

    public init(temperature: Double = 0, topP: Double = 1, topK: Int = 0, seed: UInt64 = 0) {
        self.temperature = temperature; self.topP = topP; self.topK = topK; self.seed = seed
    }

    public static let greedy = SamplingParameters()
}

/// Picks tokens for one sequence.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var random: SeededGenerator

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        self.random = SeededGenerator(seed: parameters.seed)
    }

    /// The index of the largest value (the lowest index among equals).
    public static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        for i in 1..<max(logits.count, 1) where logits[i] > logits[best] { best = i }
        return best
    }

    /// Chooses the next token from `logits`.
    public mutating func next(_ logits: [Float]) -> Int {
        let p = parameters
        guard p.temperature > 0, logits.count > 1 else { return Sampler.argmax(logits) }
        // Candidates sorted by logit (ties by id, so the order is deterministic).
        var order = Array(logits.indices)
        order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        if p.topK > 0 && p.topK < order.count { order.removeSubrange(p.topK...) }
        let maximum = Double(logits[order[0]])
        var weights = order.map { exp((Double(logits[$0]) - maximum) / p.temperature) }
        let total = weights.reduce(0, +)
        for i in weights.indices { weights[i] /= total }
        if p.topP < 1 {
            var cumulative = 0.0
            var keep = weights.count
            for (i, w) in weights.enumerated() {
                cumulative += w
                if cumulative >= p.topP { keep = i + 1; break }
            }
            order.removeSubrange(keep...)
            weights.removeSubrange(keep...)
            let kept = weights.reduce(0, +)
            for i in weights.indices { weights[i] /= kept }
        }
        var u = random.nextUnit()
        for (i, w) in weights.enumerated() {
            u -= w
            if u < 0 { return order[i] }
        }
        return order[order.count - 1]
    }
}
