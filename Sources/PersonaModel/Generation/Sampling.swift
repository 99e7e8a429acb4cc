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
///
/// `next` never sorts the vocabulary: with neither top-k nor top-p it draws from the softmax in one
/// pass (a float exp per logit, chunk sums in double); top-k and top-p find their cut with a
/// histogram of the logits over 4096 value buckets and sort only the one bucket the cut falls in.
/// The kept set and its weights are those of `referenceNext` (the plain sort, kept for the tests):
/// the same tokens, ties broken by the lower id, weights equal to float rounding — so the
/// distribution is the same, though one seed's draws differ from the reference's (the walk goes in
/// id order, not probability order). Logits holding NaN or an infinity take the reference path.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var random: SeededGenerator
    /// Scratch reused across tokens: one weight per logit, one sum per chunk of `chunk` weights.
    private var weights: [Float] = []
    private var chunkSums: [Double] = []
    private static let chunk = 1024

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
        guard let candidates = Sampler.candidates(logits, p, weights: &weights, chunkSums: &chunkSums) else {
            return referenceNext(logits)
        }
        let u = random.nextUnit()
        switch candidates {
        case .all(let total):
            // Walk the chunk sums, then the weights of the one chunk the draw falls in.
            var target = u * total
            let n = logits.count
            var c = 0
            while c < chunkSums.count - 1 && target >= chunkSums[c] { target -= chunkSums[c]; c += 1 }
            let end = min(n, (c + 1) * Sampler.chunk)
            var lastPositive = -1
            for i in c * Sampler.chunk..<end where weights[i] > 0 {
                lastPositive = i
                target -= Double(weights[i])
                if target < 0 { return i }
            }
            // Rounding left a sliver past the chunk's last weight: that token, as the reference
            // falls back to its last candidate.
            return lastPositive >= 0 ? lastPositive : Sampler.argmax(logits)
        case .list(let ids, let listWeights, let total):
            var target = u * total
            for (i, w) in zip(ids, listWeights) {
                target -= w
                if target < 0 { return i }
            }
            return ids.last ?? Sampler.argmax(logits)
        }
    }

    /// The reference sampler: every candidate sorted by logit (ties by id), cut by top-k, then by
    /// top-p on the normalized weights, drawn in probability order. Slow (a full sort and a double
    /// exp per logit); the tests hold `next` to its kept set and distribution.
    public mutating func referenceNext(_ logits: [Float]) -> Int {
        let p = parameters
        guard p.temperature > 0, logits.count > 1 else { return Sampler.argmax(logits) }
        let (order, weights) = Sampler.referenceCandidates(logits, p)
        var u = random.nextUnit()
        for (i, w) in weights.enumerated() {
            u -= w
            if u < 0 { return order[i] }
        }
        return order[order.count - 1]
    }

    /// The reference's kept candidates in probability order and their normalized weights.
    static func referenceCandidates(_ logits: [Float], _ p: SamplingParameters) -> (ids: [Int], weights: [Double]) {
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
        return (order, weights)
    }

    /// What `next` draws from: every token with the weights in `weights` (their sum `total`, also
    /// per chunk in `chunkSums`), or a list of kept ids with their (unnormalized) weights.
    enum Candidates {
        case all(total: Double)
        case list(ids: [Int], weights: [Double], total: Double)
    }

    /// The kept candidates without a sort of the vocabulary; nil when the logits hold a NaN or an
    /// infinity (the caller then takes the reference path, whose behaviour there is the contract).
    static func candidates(
        _ logits: [Float], _ p: SamplingParameters,
        weights: inout [Float], chunkSums: inout [Double]
    ) -> Candidates? {
        let n = logits.count
        var maximum = -Float.infinity, minimum = Float.infinity
        for l in logits {
            if l.isNaN || l.isInfinite { return nil }
            maximum = max(maximum, l); minimum = min(minimum, l)
        }
        let inverseTemperature = Float(1 / p.temperature)
        guard inverseTemperature.isFinite else { return nil }
        let useTopK = p.topK > 0 && p.topK < n
        if !useTopK && p.topP >= 1 {
            let total = softmaxWeights(
                logits, maximum: maximum, inverseTemperature: inverseTemperature,
                into: &weights, chunkSums: &chunkSums)
            return total.isFinite && total > 0 ? .all(total: total) : nil
        }
        if !useTopK {
            // Top-p over the whole vocabulary: the SIMD weights, then one histogram pass.
            let total = softmaxWeights(
                logits, maximum: maximum, inverseTemperature: inverseTemperature,
                into: &weights, chunkSums: &chunkSums)
            guard total.isFinite, total > 0 else { return nil }
            let (ids, listWeights) = topP(logits, weights: weights, minimum: minimum, maximum: maximum, mass: p.topP * total)
            let kept = listWeights.reduce(0, +)
            return kept > 0 ? .list(ids: ids, weights: listWeights, total: kept) : nil
        }
        // The candidate ids (unordered), after top-k.
        var ids = topK(logits, count: p.topK, minimum: minimum, maximum: maximum)
        var listWeights = ids.map { Double(Sampler.fastExp((logits[$0] - maximum) * inverseTemperature)) }
        var total = listWeights.reduce(0, +)
        guard total.isFinite, total > 0 else { return nil }
        if p.topP < 1 {
            (ids, listWeights) = topP(logits, ids: ids, weights: listWeights, mass: p.topP * total)
            total = listWeights.reduce(0, +)
            guard total > 0 else { return nil }
        }
        return .list(ids: ids, weights: listWeights, total: total)
    }

    /// Buckets over a logit range: bucket 0 holds the largest values; a larger logit never lands
    /// in a later bucket (every step is monotonic), and equal logits share a bucket — so the
    /// buckets before the one holding a cut are wholly kept, and only that one needs a sort.
    struct Buckets {
        static let count = 4096
        let maximum: Float, scale: Float
        init(minimum: Float, maximum: Float) {
            self.maximum = maximum
            let range = maximum - minimum
            // An empty or overflowing range puts everything in bucket 0 (correct, only slower).
            let s = Float(Buckets.count - 1) / range
            scale = range > 0 && s.isFinite ? s : 0
        }
        @inline(__always) func index(_ l: Float) -> Int {
            Int(min(Float(Buckets.count - 1), max(0, (maximum - l) * scale)))
        }
    }

    /// The ids of the `count` largest logits, ties taken by the lower id (as the sorted reference).
    static func topK(_ logits: [Float], count k: Int, minimum: Float, maximum: Float) -> [Int] {
        let buckets = Buckets(minimum: minimum, maximum: maximum)
        var counts = [Int](repeating: 0, count: Buckets.count)
        for l in logits { counts[buckets.index(l)] += 1 }
        var boundary = 0, before = 0
        while before + counts[boundary] < k { before += counts[boundary]; boundary += 1 }
        var ids: [Int] = []; ids.reserveCapacity(k)
        var edge: [Int] = []
        for (i, l) in logits.enumerated() {
            let b = buckets.index(l)
            if b < boundary { ids.append(i) } else if b == boundary { edge.append(i) }
        }
        edge.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        ids.append(contentsOf: edge.prefix(k - before))
        return ids
    }

    /// The smallest set of the largest-logit candidates whose weight reaches `mass` (ties by the
    /// lower id), or every candidate when rounding keeps the sum below it (as the reference).
    static func topP(_ logits: [Float], ids: [Int], weights: [Double], mass: Double) -> ([Int], [Double]) {
        var minimum = Float.infinity, maximum = -Float.infinity
        for i in ids { minimum = min(minimum, logits[i]); maximum = max(maximum, logits[i]) }
        let buckets = Buckets(minimum: minimum, maximum: maximum)
        var masses = [Double](repeating: 0, count: Buckets.count)
        for (i, w) in zip(ids, weights) { masses[buckets.index(logits[i])] += w }
        var boundary = 0, before = 0.0
        while boundary < Buckets.count - 1 && before + masses[boundary] < mass { before += masses[boundary]; boundary += 1 }
        var keptIds: [Int] = [], keptWeights: [Double] = []
        var edge: [(id: Int, weight: Double)] = []
        for (i, w) in zip(ids, weights) {
            let b = buckets.index(logits[i])
            if b < boundary { keptIds.append(i); keptWeights.append(w) } else if b == boundary { edge.append((i, w)) }
        }
        edge.sort { logits[$0.id] > logits[$1.id] || (logits[$0.id] == logits[$1.id] && $0.id < $1.id) }
        var cumulative = before
        for e in edge {
            keptIds.append(e.id); keptWeights.append(e.weight)
            cumulative += e.weight
            if cumulative >= mass { return (keptIds, keptWeights) }
        }
        // The cut was not reached in the boundary bucket: rounding, or the last bucket — keep the rest.
        for (i, w) in zip(ids, weights) where buckets.index(logits[i]) > boundary {
            keptIds.append(i); keptWeights.append(w)
        }
        return (keptIds, keptWeights)
    }

    /// `topP` over every token, with the weights of `softmaxWeights` (same cut, same tie rule),
    /// without materializing the vocabulary's ids.
    static func topP(_ logits: [Float], weights: [Float], minimum: Float, maximum: Float, mass: Double) -> ([Int], [Double]) {
        let buckets = Buckets(minimum: minimum, maximum: maximum)
        var masses = [Double](repeating: 0, count: Buckets.count)
        var index = [UInt16](repeating: 0, count: logits.count)
        for i in logits.indices {
            let b = buckets.index(logits[i])
            index[i] = UInt16(truncatingIfNeeded: b)
            masses[b] += Double(weights[i])
        }
        var boundary = 0, before = 0.0
        while boundary < Buckets.count - 1 && before + masses[boundary] < mass { before += masses[boundary]; boundary += 1 }
        var keptIds: [Int] = [], keptWeights: [Double] = []
        var edge: [Int] = []
        for i in logits.indices {
            let b = Int(index[i])
            if b < boundary { keptIds.append(i); keptWeights.append(Double(weights[i])) } else if b == boundary { edge.append(i) }
        }
        edge.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        var cumulative = before
        for i in edge {
            keptIds.append(i); keptWeights.append(Double(weights[i]))
            cumulative += Double(weights[i])
            if cumulative >= mass { return (keptIds, keptWeights) }
        }
        for i in logits.indices where Int(index[i]) > boundary { keptIds.append(i); keptWeights.append(Double(weights[i])) }
        return (keptIds, keptWeights)
    }

    /// exp((logits[i] − maximum) · inverseTemperature) for every i into `weights`, with the sum of
    /// each chunk in `chunkSums`; returns the total. Hot: one pass over the vocabulary per token.
    static func softmaxWeights(
        _ logits: [Float], maximum: Float, inverseTemperature: Float,
        into weights: inout [Float], chunkSums: inout [Double]
    ) -> Double {
        let n = logits.count
        if weights.count != n { weights = [Float](repeating: 0, count: n) }
        let chunks = (n + chunk - 1) / chunk
        if chunkSums.count != chunks { chunkSums = [Double](repeating: 0, count: chunks) }
        var total = 0.0
        logits.withUnsafeBufferPointer { l in
            weights.withUnsafeMutableBufferPointer { w in
                guard let lBase = l.baseAddress, let wBase = w.baseAddress else { return }
                for c in 0..<chunks {
                    let start = c * chunk, end = min(n, start + chunk)
                    var sum = SIMD8<Float>()
                    var i = start
                    while i + 8 <= end {
                        let x = UnsafeRawPointer(lBase + i).loadUnaligned(as: SIMD8<Float>.self)
                        let e = Sampler.fastExp8((x - maximum) * inverseTemperature)
                        UnsafeMutableRawPointer(wBase + i).storeBytes(of: e, as: SIMD8<Float>.self)
                        sum += e
                        i += 8
                    }
                    var s = Double(sum.sum())
                    while i < end {
                        let e = Sampler.fastExp((l[i] - maximum) * inverseTemperature)
                        w[i] = e; s += Double(e); i += 1
                    }
                    chunkSums[c] = s
                    total += s
                }
            }
        }
        return total
    }

    /// e^x for x ≤ 0 within about 2 ulp (Cody–Waite reduction, the Cephes expf polynomial); 0 below
    /// −87.3 where float underflows. Only SSE2 operations, so it needs no CPU target.
    @inline(__always) static func fastExp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let clamped = x.replacing(with: -87.3, where: x .< -87.3)
        let magic: Float = 12_582_912  // 1.5 · 2^23: adding it rounds to an integer in the low bits
        let t = clamped * 1.442_695_04 + magic
        let n = t - magic
        var r = clamped - n * 0.693_359_375
        r = r - n * -2.121_944_4e-4
        var y = SIMD8<Float>(repeating: 1.987_569_15e-4)
        y = y * r + 1.398_199_950_7e-3
        y = y * r + 8.333_451_907_3e-3
        y = y * r + 4.166_579_589_4e-2
        y = y * r + 1.666_666_545_9e-1
        y = y * r + 5.000_000_120_1e-1
        y = y * (r * r) + r + 1
        // 2^n from the integer left in t's low bits.
        let bits = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((bits &+ 127) &<< 23, to: SIMD8<Float>.self)
        return (y * scale).replacing(with: 0, where: x .< -87.3)
    }

    @inline(__always) static func fastExp(_ x: Float) -> Float { fastExp8(SIMD8(repeating: x))[0] }
}
