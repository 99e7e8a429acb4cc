// Next-token log-probabilities for batches of token sequences, with prefix reuse: the KV caches of
// recent sequences are kept, and each new sequence extends the cache with the longest common
// prefix, so a judge scoring many continuations of one eval prompt ("7", then "7","5", …) pays for
// the prompt once. Serves the host services' next_token_logprobs.
//
// Exactness: a sequence computed by extending a cached prefix runs the same per-row arithmetic as a
// full prefill except for how rows are grouped into sgemm calls, so results agree with a full
// forward pass to float32 rounding (measured in PluginTests).
import Foundation

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
        return try computeLogProbabilities(sequences)
    }

    /// `logProbabilities` with the lock held.
    private func computeLogProbabilities(_ sequences: [[Int]]) throws -> [[Float]] {
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
                let usable = min(bestLength, tokens.count - 1)  // at least one new token for the logits
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
                let lp = LogProbabilities.logSoftmax(logits[k])
                tokensComputed += inputs[k].tokens.count
                results[owner] = lp
                clock += 1
                entries.append(
                    Entry(
                        tokens: sequences[owner], cache: inputs[k].cache, logProbabilities: lp, lastUse: clock,
                        isPrompt: inputs[k].tokens.count > Self.promptTokens))
            }
            clock += 1
            for p in parents { entries[p].lastUse = clock }
            // Two least-recently-used pools: prompts, and short extensions. One pool would let a
            // judgment's dozens of one-token probes push out the prompt the next item shares, or
            // (ordering by use count instead) let the last item's probes push out the new prompt.
            trim(isPrompt: true, to: promptCacheLimit)
            trim(isPrompt: false, to: cacheLimit)
        }
        // Duplicates within the batch take their twin's result.
        for i in results.indices where results[i] == nil {
            if let j = owners.first(where: { sequences[$0] == sequences[i] }) { results[i] = results[j] }
        }
        return results.map { $0 ?? [] }
    }

    /// One token of a continuation tree: appended to the prompt (parent nil) or to an earlier node.
    public struct TreeNode: Equatable, Sendable {
        public var token: Int
        /// Index of an earlier node of the same tree; nil = the prompt's end.
        public var parent: Int?
        /// Whether the log-probabilities after this node are wanted (otherwise only an ancestor).
        public var wantsLogProbabilities: Bool
        public init(token: Int, parent: Int?, wantsLogProbabilities: Bool = true) {
            self.token = token; self.parent = parent; self.wantsLogProbabilities = wantsLogProbabilities
        }
    }

    /// A prompt and continuations of it whose next-token distributions are wanted.
    public struct TreeRequest: Equatable, Sendable {
        public var prompt: [Int]
        public var nodes: [TreeNode]
        public init(prompt: [Int], nodes: [TreeNode]) { self.prompt = prompt; self.nodes = nodes }
    }

    /// The log-softmax after the prompt and after every node that wanted it (nil for the others).
    public struct TreeResult {
        public var prompt: [Float]
        public var nodes: [[Float]?]
    }

    /// Next-token log-probabilities after each request's prompt and after the nodes of its tree, in
    /// one forward pass for all requests: every prompt extends its longest cached prefix (and is
    /// kept, as `logProbabilities` keeps it), and the nodes are branch rows that read the prompt's
    /// cache without copying it (`BranchInput`). A node's result equals `logProbabilities` of the
    /// prompt followed by the node's path to float32 rounding (bit-equal when that call would have
    /// run the path one token at a time).
    public func treeLogProbabilities(_ requests: [TreeRequest]) throws -> [TreeResult] {
        lock.lock(); defer { lock.unlock() }
        let callStart = clock
        // Prompts of this call that share a beginning no cached entry holds (a judge stage's first
        // items of one eval prompt): that beginning is computed once, first, and kept.
        let shared = sharedPrefixes(requests.map(\.prompt))
        if !shared.isEmpty { _ = try computeLogProbabilities(shared) }
        var caches: [KVCache] = []
        var cachedResults = [[Float]?](repeating: nil, count: requests.count)
        var inputs: [SequenceInput] = []
        /// inputs[k] computes the prompt of requests[owners[k]].
        var owners: [Int] = []
        var parents = Set<Int>()
        for (i, request) in requests.enumerated() {
            guard !request.prompt.isEmpty else { throw TransformerError.badBatch(reason: "request \(i) has an empty prompt") }
            for (n, node) in request.nodes.enumerated() {
                if let parent = node.parent, parent < 0 || parent >= n {
                    throw TransformerError.badBatch(reason: "request \(i) node \(n): parent \(parent) is not an earlier node")
                }
            }
            clock += 1
            var best = -1, bestLength = 0
            for (e, entry) in entries.enumerated() {
                let n = commonPrefixLength(entry.tokens, request.prompt)
                if n > bestLength { best = e; bestLength = n }
            }
            if best >= 0, bestLength == request.prompt.count, entries[best].tokens.count == request.prompt.count {
                entries[best].lastUse = clock
                caches.append(entries[best].cache)
                cachedResults[i] = entries[best].logProbabilities
                continue
            }
            // The same prompt twice in one call: one computation, one cache.
            if let k = owners.firstIndex(where: { requests[$0].prompt == request.prompt }) {
                caches.append(inputs[k].cache)
                continue
            }
            let cache: KVCache
            var start = 0
            if best >= 0 {
                let usable = min(bestLength, request.prompt.count - 1)
                cache = entries[best].cache.copy(keeping: usable, reserving: request.prompt.count - usable)
                start = usable
                entries[best].lastUse = clock
                parents.insert(best)
            } else {
                cache = transformer.makeCache(capacity: request.prompt.count)
            }
            caches.append(cache)
            inputs.append(SequenceInput(tokens: Array(request.prompt[start...]), cache: cache, id: i))
            owners.append(i)
        }
        var branches: [BranchInput] = []
        var firstBranch: [Int] = []
        for (i, request) in requests.enumerated() {
            let base = branches.count
            firstBranch.append(base)
            for node in request.nodes {
                branches.append(
                    BranchInput(
                        token: node.token, prefix: caches[i], parent: node.parent.map { base + $0 },
                        wantsLogits: node.wantsLogProbabilities, id: i))
            }
        }
        let pass = try transformer.forward(inputs, branches: branches, logits: .last)
        var computed: [Int: [Float]] = [:]
        for (k, owner) in owners.enumerated() {
            let lp = LogProbabilities.logSoftmax(pass.sequences[k])
            tokensComputed += inputs[k].tokens.count
            computed[owner] = lp
            clock += 1
            entries.append(
                Entry(
                    tokens: requests[owner].prompt, cache: inputs[k].cache, logProbabilities: lp, lastUse: clock,
                    isPrompt: inputs[k].tokens.count > Self.promptTokens))
        }
        tokensComputed += branches.count
        if !owners.isEmpty {
            clock += 1
            for p in parents { entries[p].lastUse = clock }
            trim(isPrompt: true, to: promptCacheLimit, keepingUsedSince: callStart)
            trim(isPrompt: false, to: cacheLimit)
        }
        return requests.enumerated().map { i, request in
            let prompt = cachedResults[i] ?? computed[i] ?? owners.first { requests[$0].prompt == request.prompt }.flatMap { computed[$0] } ?? []
            let nodes = (0..<request.nodes.count).map { n in pass.branches[firstBranch[i] + n].map(LogProbabilities.logSoftmax) }
            return TreeResult(prompt: prompt, nodes: nodes)
        }
    }

    /// Beginnings shared by two or more of `prompts` that are more than `promptTokens` longer than
    /// anything cached for them (longest first; none that begins another).
    private func sharedPrefixes(_ prompts: [[Int]]) -> [[Int]] {
        var found: [[Int]] = []
        for (i, prompt) in prompts.enumerated() {
            let cached = entries.map { commonPrefixLength($0.tokens, prompt) }.max() ?? 0
            var shared = 0
            for other in prompts[..<i] where other != prompt {
                shared = max(shared, min(commonPrefixLength(other, prompt), prompt.count - 1, other.count - 1))
            }
            if shared > cached + Self.promptTokens { found.append(Array(prompt[..<shared])) }
        }
        var chosen: [[Int]] = []
        for candidate in found.sorted(by: { $0.count > $1.count }) where !chosen.contains(where: { $0.starts(with: candidate) }) {
            chosen.append(candidate)
        }
        return chosen
    }

    /// Drops the least recently used entries of one pool beyond `limit`, but none used since
    /// `clock` was `keptSince`: a tree call's prompts and the shared beginning they extend are
    /// all read again by the caller's next pass (a judge's deeper probes), however many there are.
    private func trim(isPrompt: Bool, to limit: Int, keepingUsedSince keptSince: Int = .max) {
        let pool = entries.indices.filter { entries[$0].isPrompt == isPrompt }
        let inUse = pool.filter { entries[$0].lastUse > keptSince }.count
        let keep = max(limit, inUse)
        guard pool.count > keep else { return }
        let drop = Set(pool.sorted { entries[$0].lastUse > entries[$1].lastUse }.dropFirst(max(keep, 0)))
        entries = entries.indices.filter { !drop.contains($0) }.map { entries[$0] }
    }

    /// Forgets every cached sequence.
    public func clear() { lock.lock(); entries.removeAll(); lock.unlock() }

    private func commonPrefixLength(_ a: [Int], _ b: [Int]) -> Int {
        let n = min(a.count, b.count)
        var i = 0
        while i < n && a[i] == b[i] { i += 1 }
        return i
    }
}
