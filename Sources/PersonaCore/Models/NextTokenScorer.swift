// Next-token log-probabilities for batches of token sequences, with prefix reuse: the KV caches of
// recent sequences are kept, and each new sequence extends the cache with the longest common
// prefix, so a judge scoring many continuations of one eval prompt ("7", then "7","5", …) pays for
// the prompt once. Serves the host services' next_token_logprobs.
//
// Exactness: a sequence computed by extending a cached prefix runs the same per-row arithmetic as a
// full prefill except for how rows are grouped into sgemm calls, so results agree with a full
// forward pass to float32 rounding (measured in PluginTests).
import Foundation
import PersonaModel

public final class NextTokenScorer: @unchecked Sendable {
    public let transformer: Transformer
    /// How many sequences' caches are kept (least recently used dropped first).
    public var cacheLimit: Int
    private struct Entry {
        var tokens: [Int]
        var cache: KVCache
        var logProbabilities: [Float]
        var lastUse: Int
        /// How often a later sequence extended this one: a prompt that continuations build on is
        /// worth keeping; a leaf (a judge's "7","5" probe) is not.
        var extensions = 0
    }
    private var entries: [Entry] = []
    private var clock = 0
    private let lock = NSLock()
    /// Tokens run through the transformer so far (for tests and benchmarks of prefix reuse).
    public private(set) var tokensComputed = 0

    public init(transformer: Transformer, cacheLimit: Int = 12) {
        self.transformer = transformer; self.cacheLimit = cacheLimit
    }

    /// Log-softmax of the next-token logits after each sequence, `[sequences.count][vocab]`.
    public func logProbabilities(_ sequences: [[Int]]) throws -> [[Float]] {
        lock.lock(); defer { lock.unlock() }
        var results = [[Float]?](repeating: nil, count: sequences.count)
        var inputs: [SequenceInput] = []
        var owners: [Int] = []
        for (i, tokens) in sequences.enumerated() {
            guard !tokens.isEmpty else { throw TransformerError.badBatch(reason: "sequence \(i) has no tokens") }
            clock += 1
            // Longest common prefix among the cached entries.
            var best = -1, bestLength = 0
            for (e, entry) in entries.enumerated() {
                let n = commonPrefixLength(entry.tokens, tokens)
                if n > bestLength { best = e; bestLength = n }
            }
            if best >= 0, bestLength == tokens.count, entries[best].tokens.count == tokens.count {
                entries[best].lastUse = clock
                results[i] = entries[best].logProbabilities
                continue
            }
            // The same sequence twice in one batch: compute once.
            if let j = owners.firstIndex(where: { sequences[$0] == tokens }) {
                _ = j; continue
            }
            let cache: KVCache
            var start = 0
            if best >= 0 {
                let usable = min(bestLength, tokens.count - 1)   // at least one new token for the logits
                cache = entries[best].cache.copy()
                cache.truncate(to: usable)
                start = usable
                entries[best].lastUse = clock
                entries[best].extensions += 1
            } else {
                cache = transformer.makeCache(capacity: tokens.count)
            }
            inputs.append(SequenceInput(tokens: Array(tokens[start...]), cache: cache, id: i))
            owners.append(i)
        }
        if !inputs.isEmpty {
            let logits = try transformer.forward(inputs, logits: .last)
            for (k, owner) in owners.enumerated() {
                let lp = Self.logSoftmax(logits[k])
                tokensComputed += inputs[k].tokens.count
                results[owner] = lp
                clock += 1
                entries.append(Entry(tokens: sequences[owner], cache: inputs[k].cache, logProbabilities: lp, lastUse: clock))
            }
            if entries.count > cacheLimit {
                // Leaves go first, then the least recently used: a judge's shared eval prompt stays
                // cached across items while its one-token probes come and go.
                entries.sort { ($0.extensions > 0 ? 1 : 0, $0.lastUse) > ($1.extensions > 0 ? 1 : 0, $1.lastUse) }
                entries.removeLast(entries.count - cacheLimit)
            }
        }
        // Duplicates within the batch take their twin's result.
        for i in results.indices where results[i] == nil {
            if let j = owners.first(where: { sequences[$0] == sequences[i] }) { results[i] = results[j] }
        }
        return results.map { $0 ?? [] }
    }

    /// Forgets every cached sequence.
    public func clear() { lock.lock(); entries.removeAll(); lock.unlock() }

    /// log-softmax in double precision, returned as float.
    public static func logSoftmax(_ logits: [Float]) -> [Float] {
        guard let maximum = logits.max() else { return [] }
        var sum = 0.0
        for x in logits { sum += exp(Double(x - maximum)) }
        let logZ = Double(maximum) + log(sum)
        return logits.map { Float(Double($0) - logZ) }
    }

    private func commonPrefixLength(_ a: [Int], _ b: [Int]) -> Int {
        let n = min(a.count, b.count)
        var i = 0
        while i < n && a[i] == b[i] { i += 1 }
        return i
    }
}
