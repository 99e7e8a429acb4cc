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
    /// How many short extensions' caches are kept (a judge's one-token probes; least recently
    /// used dropped first).
    public var cacheLimit: Int
    /// How many prompts' caches are kept (sequences computed with many new tokens): a
    /// judge alternating between a trait prompt and the coherence prompt keeps the shared part of
    /// each across items.
    public var promptCacheLimit: Int
    /// A sequence computed with more new tokens than this is a prompt (see `promptCacheLimit`).
    static let promptTokens = 8
    private struct Entry {
        var tokens: [Int]
        var cache: KVCache
        var logProbabilities: [Float]
        var lastUse: Int
        /// Computed with more than `promptTokens` new tokens (a prompt), not as a short extension.
        var isPrompt: Bool
    }
    private var entries: [Entry] = []
    private var clock = 0
    private let lock = NSLock()
    /// Tokens run through the transformer so far (for tests and benchmarks of prefix reuse).
    public private(set) var tokensComputed = 0

    public init(transformer: Transformer, cacheLimit: Int = 16, promptCacheLimit: Int = 4) {
        self.transformer = transformer; self.cacheLimit = cacheLimit; self.promptCacheLimit = promptCacheLimit
    }

    /// Log-softmax of the next-token logits after each sequence, `[sequences.count][vocab]`.
    public func logProbabilities(_ sequences: [[Int]]) throws -> [[Float]] {
        lock.lock(); defer { lock.unlock() }
        var results = [[Float]?](repeating: nil, count: sequences.count)
        var inputs: [SequenceInput] = []
        var owners: [Int] = []
        /// Entries extended by this call: they are marked used again after their extensions are
        /// stored, so that the least-recently-used trim drops the new leaves before their parents
        /// (the next level of a judge's probes extends the parents' other children, not the leaves).
        var parents = Set<Int>()
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
                cache = entries[best].cache.copy(keeping: usable, reserving: tokens.count - usable)
                start = usable
                entries[best].lastUse = clock
                parents.insert(best)
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
                entries.append(Entry(tokens: sequences[owner], cache: inputs[k].cache, logProbabilities: lp, lastUse: clock,
                                     isPrompt: inputs[k].tokens.count > Self.promptTokens))
            }
            clock += 1
            for p in parents { entries[p].lastUse = clock }
            // Two least-recently-used pools: prompts, and short extensions. One pool would let a
            // judgment's dozens of one-token probes push out the prompt the next item shares, or
            // (ordering by use count instead) let the last item's probes push out the new prompt.
            func trim(_ isPrompt: Bool, to limit: Int) {
                let pool = entries.indices.filter { entries[$0].isPrompt == isPrompt }
                guard pool.count > limit else { return }
                let drop = Set(pool.sorted { entries[$0].lastUse > entries[$1].lastUse }.dropFirst(max(limit, 0)))
                entries = entries.indices.filter { !drop.contains($0) }.map { entries[$0] }
            }
            trim(true, to: promptCacheLimit)
            trim(false, to: cacheLimit)
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
