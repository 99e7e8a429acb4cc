// The decoder-only transformer for the `llama` and `qwen2` families, on CPU, in float32.
//
// One forward pass takes a ragged batch: for every sequence, its new tokens (a whole prompt in
// prefill, one token in a decode step) and its KV cache. The new tokens of all sequences are
// stacked into one [rows, hidden] matrix so that every linear layer is one pass over its weights
// (`linear`: the fused quantized kernels, or sgemm on the float32 copy); attention is
// per sequence against its own cache, so no sequence ever sees another's positions or padding.
//
// Per block: RMSNorm → Q/K/V (+bias for qwen2) → RoPE → append K/V to the cache → causal GQA
// attention → output projection → residual → RMSNorm → gated MLP (SwiGLU) → residual → hooks.
// The linear layers are LinearLayer.swift; a pass's scratch buffers come from a RunState that
// later passes reuse (RunState.swift).
import Foundation
import PersonaTensor

/// Which positions' logits a pass returns.
public enum LogitsMode: Sendable {
    /// No logits (capture-only passes).
    case none
    /// The last position of every sequence (what generation needs).
    case last
    /// Every position of every sequence.
    case all
}

/// One sequence's share of a forward pass.
public struct SequenceInput {
    public var tokens: [Int]
    public var cache: KVCache
    /// The caller's identifier for this sequence, handed to hooks in `SequenceSpan.id`.
    public var id: Int
    public init(tokens: [Int], cache: KVCache, id: Int = 0) { self.tokens = tokens; self.cache = cache; self.id = id }
}

/// A one-token continuation of a prefix that is read, never extended: the row attends to the
/// prefix cache's positions, then to its ancestor branches (root first), then to itself. Its keys
/// and values live only for the pass, so many continuations of one prompt share the prompt's cache
/// instead of each copying it (a judge's digit probes: "7", then "7" "5" …, all in one pass).
///
/// Exactness: a branch row is a decode row (the per-row kernels) and its attention runs the
/// decode-step loops over the same keys in the same order, so its logits are bit-identical to
/// appending its path one token at a time to a copy of the prefix cache.
public struct BranchInput {
    public var token: Int
    /// The prefix. When this cache is also a sequence of the pass, the prefix includes that
    /// sequence's new tokens (the branch continues the prompt the same pass prefills).
    public var prefix: KVCache
    /// Index of an earlier branch of the same pass and prefix that this one extends; nil = the
    /// prefix's end.
    public var parent: Int?
    /// Whether the pass returns logits after this branch (otherwise it is only an ancestor).
    public var wantsLogits: Bool
    /// The caller's identifier, handed to hooks in `SequenceSpan.id`.
    public var id: Int
    public init(token: Int, prefix: KVCache, parent: Int? = nil, wantsLogits: Bool = true, id: Int = 0) {
        self.token = token; self.prefix = prefix; self.parent = parent; self.wantsLogits = wantsLogits; self.id = id
    }
}

/// The model: configuration, weights, hooks.
public final class Transformer {
    public let config: ModelConfig
    public let weights: TransformerWeights
    let rope: RoPE
    /// The arithmetic of the linear layers (DESIGN.md, "Arithmetic: exact and fast"): `.exact`
    /// reproduces the reference; `.fast` quantizes activations to int8 per 32 values. Defaults to
    /// `Arithmetic.default` (PERSONA_EXACT / PERSONA_ARITHMETIC).
    public var arithmetic: Arithmetic = .default
    /// Whether any linear layer computes in integers: the fast arithmetic on weights that have an
    /// integer form (a Hugging Face folder's float weights have none, so fast computes as exact).
    public var computesInIntegers: Bool { arithmetic == .fast && hasIntegerWeights }
    /// Whether any linear layer's weights have an integer form (fixed by the weights: found once).
    private let hasIntegerWeights: Bool
    /// The arithmetic the model's results come from (`computesInIntegers` decides).
    public var effectiveArithmetic: Arithmetic { computesInIntegers ? .fast : .exact }
    private var hookEntries: [(id: Int, hook: LayerHook)] = []
    /// Run states of finished passes, reused by the next ones (one per pass in flight).
    private var idleRunStates: [RunState] = []
    private let runStateLock = NSLock()
    private var nextHookID = 0

    public init(config: ModelConfig, weights: TransformerWeights) {
        self.config = config
        self.weights = weights
        let linears = [weights.output] + weights.blocks.flatMap { [$0.query, $0.key, $0.value, $0.attentionOutput, $0.gate, $0.up, $0.down] }
        self.hasIntegerWeights = linears.contains { $0.quantized?.supportsInteger == true }
        self.rope = RoPE(
            layout: weights.ropeLayout, headDimension: config.headDimension, base: config.ropeTheta,
            frequencyFactors: weights.ropeFrequencyFactors)
    }

    /// Loads a model (GGUF file or Hugging Face folder).
    public convenience init(source: ModelSource) throws {
        let config = try source.config()
        try self.init(config: config, weights: TransformerWeights.load(from: source, config: config))
    }

    /// An empty cache for one sequence.
    public func makeCache(capacity: Int = 64) -> KVCache {
        KVCache(layerCount: config.layerCount, kvWidth: config.kvHeadCount * config.headDimension, initialCapacity: capacity)
    }

    // MARK: Hooks

    /// A registered hook; removing it twice is harmless.
    public struct HookHandle: Hashable { let id: Int }

    /// Registers `hook`; prefer `withHooks` so that it is removed on every exit path.
    public func addHook(_ hook: LayerHook) -> HookHandle {
        nextHookID += 1
        hookEntries.append((nextHookID, hook))
        return HookHandle(id: nextHookID)
    }

    public func removeHook(_ handle: HookHandle) { hookEntries.removeAll { $0.id == handle.id } }

    /// Runs `body` with `hooks` attached; they are removed however `body` exits (errors included).
    public func withHooks<T>(_ hooks: [LayerHook], _ body: () throws -> T) rethrows -> T {
        let handles = hooks.map { addHook($0) }
        defer { handles.forEach(removeHook) }
        return try body()
    }

    public var hookCount: Int { hookEntries.count }

    // MARK: Forward

    private func takeRunState() -> RunState {
        runStateLock.lock(); defer { runStateLock.unlock() }
        return idleRunStates.popLast() ?? RunState()
    }

    private func returnRunState(_ state: RunState) {
        runStateLock.lock(); defer { runStateLock.unlock() }
        idleRunStates.append(state)
    }

    /// Runs one pass. Returns logits, row-major [rows, vocab]: one row per sequence for `.last`
    /// (in batch order), one per token for `.all`, none for `.none`. Caches are extended.
    public func forward(_ batch: [SequenceInput], logits mode: LogitsMode = .last) throws -> [[Float]] {
        try forward(batch, branches: [], logits: mode).sequences
    }

    /// Runs one pass over `batch` and `branches` (continuations of read-only prefixes, see
    /// `BranchInput`). `sequences` as `forward(_:logits:)`; `branches[b]` holds the logits after
    /// branch b when it wants them, nil otherwise. Only the batch's caches are extended.
    public func forward(_ batch: [SequenceInput], branches: [BranchInput], logits mode: LogitsMode = .last) throws
        -> (sequences: [[Float]], branches: [[Float]?])
    {
        let c = config
        let hidden = c.hiddenSize, headDim = c.headDimension
        let qWidth = c.headCount * headDim, kvWidth = c.kvHeadCount * headDim, ffn = c.feedForwardSize

        // Rows of the pass: every sequence's new tokens, stacked.
        var spans: [SequenceSpan] = []
        var rows = 0
        for (i, s) in batch.enumerated() {
            guard !s.tokens.isEmpty else { throw TransformerError.badBatch(reason: "sequence \(i) has no tokens") }
            for t in s.tokens where t < 0 || t >= c.vocabularySize {
                throw TransformerError.tokenOutOfRange(token: t, vocabularySize: c.vocabularySize)
            }
            if s.cache.count + s.tokens.count > c.contextLength {
                throw TransformerError.contextOverflow(position: s.cache.count + s.tokens.count - 1, contextLength: c.contextLength)
            }
            guard s.cache.layerCount == c.layerCount, s.cache.width == kvWidth else {
                throw TransformerError.badBatch(reason: "sequence \(i)'s cache was made for another model")
            }
            if batch[..<i].contains(where: { $0.cache === s.cache }) {
                throw TransformerError.badBatch(reason: "sequence \(i) shares its cache with another sequence of the pass")
            }
            spans.append(SequenceSpan(sequence: i, id: s.id, rowStart: rows, rowCount: s.tokens.count, startPosition: s.cache.count))
            rows += s.tokens.count
        }
        // Branch rows follow the batch's rows, one each; `paths[b]` lists the branches b attends
        // to after its prefix (its ancestors root first, then b itself).
        let sequenceRows = rows
        var branchSpans: [SequenceSpan] = []
        var prefixLengths: [Int] = []
        var paths: [[Int]] = []
        for (b, branch) in branches.enumerated() {
            guard branch.token >= 0 && branch.token < c.vocabularySize else {
                throw TransformerError.tokenOutOfRange(token: branch.token, vocabularySize: c.vocabularySize)
            }
            guard branch.prefix.layerCount == c.layerCount, branch.prefix.width == kvWidth else {
                throw TransformerError.badBatch(reason: "branch \(b)'s prefix cache was made for another model")
            }
            var path = [b]
            if let parent = branch.parent {
                guard parent >= 0 && parent < b, branches[parent].prefix === branch.prefix else {
                    throw TransformerError.badBatch(reason: "branch \(b)'s parent \(parent) is not an earlier branch of the same prefix")
                }
                path = paths[parent] + [b]
            }
            let newTokens = batch.first { $0.cache === branch.prefix }?.tokens.count ?? 0
            let prefixLength = branch.prefix.count + newTokens
            guard prefixLength > 0 else { throw TransformerError.badBatch(reason: "branch \(b) continues an empty prefix") }
            let position = prefixLength + path.count - 1
            if position >= c.contextLength {
                throw TransformerError.contextOverflow(position: position, contextLength: c.contextLength)
            }
            branchSpans.append(SequenceSpan(sequence: batch.count + b, id: branch.id, rowStart: rows, rowCount: 1, startPosition: position))
            prefixLengths.append(prefixLength)
            paths.append(path)
            rows += 1
        }
        guard rows > 0 else { return ([], []) }
        for s in batch { s.cache.reserve(s.tokens.count) }
        let plan = RowPlan(spans: spans + branchSpans)
        let hookSpans = spans + branchSpans

        // Scratch for this pass, from a run state reused across passes (see RunState): every buffer
        // is written before it is read, so what an earlier pass left in it never shows.
        let maxContext = max(batch.map { $0.cache.count + $0.tokens.count }.max() ?? 0, (branchSpans.map { $0.startPosition + 1 }.max() ?? 0))
        let state = takeRunState()
        defer { returnRunState(state) }
        let x = state.buffer(.residual, rows * hidden)  // [rows, hidden] residual stream
        let h = state.buffer(.normed, rows * hidden)  // [rows, hidden] normed input
        let q = state.buffer(.query, rows * qWidth)  // [rows, heads·headDim]
        let k = state.buffer(.key, rows * kvWidth)  // [rows, kvHeads·headDim]
        let v = state.buffer(.value, rows * kvWidth)  // [rows, kvHeads·headDim]
        let attention = state.buffer(.attention, rows * qWidth)  // [rows, heads·headDim]
        let projected = state.buffer(.projected, rows * hidden)  // [rows, hidden] output of o and down
        let gate = state.buffer(.gate, rows * ffn)  // [rows, ffn]
        let up = state.buffer(.up, rows * ffn)  // [rows, ffn]
        let scores = state.buffer(.scores, rows * maxContext)  // per head: [tokens, context]
        let decodeSpans = spans.indices.filter { spans[$0].rowCount == 1 }
        // Multiply-adds of the one-row attention loops per layer (what makes threads worth it).
        let decodeWork = decodeSpans.reduce(0) { $0 + spans[$1].startPosition + 1 } * c.headCount * headDim * 2
        let branchWork = branchSpans.reduce(0) { $0 + $1.startPosition + 1 } * c.headCount * headDim * 2
        let branchKeys = state.buffer(.branchKeys, max(branches.count, 1) * kvWidth)  // [branches, kvHeads·headDim], this layer
        let branchValues = state.buffer(.branchValues, max(branches.count, 1) * kvWidth)  // [branches, kvHeads·headDim]

        // Embeddings.
        var r = 0
        for s in batch {
            for t in s.tokens {
                weights.tokenEmbedding.copyRow(t, into: x.row(r, width: hidden))
                r += 1
            }
        }
        for branch in branches {
            weights.tokenEmbedding.copyRow(branch.token, into: x.row(r, width: hidden))
            r += 1
        }

        let epsilon = Float(c.normEpsilon)
        let scale = 1 / Float(headDim).squareRoot()
        let group = c.headCount / c.kvHeadCount
        for (l, block) in weights.blocks.enumerated() {
            // Attention: norm → q/k/v.
            for r in 0..<rows {
                Vector.rmsNorm(x.row(r, width: hidden), weight: block.attentionNorm.pointer, epsilon: epsilon, into: h.row(r, width: hidden), count: hidden)
            }
            linear(arithmetic, block.query, h, q, plan)
            linear(arithmetic, block.key, h, k, plan)
            linear(arithmetic, block.value, h, v, plan)
            if let qb = block.queryBias, let kb = block.keyBias, let vb = block.valueBias {
                for r in 0..<rows {
                    Vector.add(qb.pointer, into: q.row(r, width: qWidth), count: qWidth)
                    Vector.add(kb.pointer, into: k.row(r, width: kvWidth), count: kvWidth)
                    Vector.add(vb.pointer, into: v.row(r, width: kvWidth), count: kvWidth)
                }
            }
            // RoPE at absolute positions; K and V go into each sequence's cache.
            for span in spans {
                let cache = batch[span.sequence].cache
                for i in 0..<span.rowCount {
                    let r = span.rowStart + i, position = span.startPosition + i
                    rope.apply(q.row(r, width: qWidth), heads: c.headCount, position: position)
                    rope.apply(k.row(r, width: kvWidth), heads: c.kvHeadCount, position: position)
                    cache.keys[l].row(position, width: kvWidth).update(from: k.row(r, width: kvWidth), count: kvWidth)
                    cache.values[l].row(position, width: kvWidth).update(from: v.row(r, width: kvWidth), count: kvWidth)
                }
            }
            for (b, span) in branchSpans.enumerated() {
                let r = span.rowStart
                rope.apply(q.row(r, width: qWidth), heads: c.headCount, position: span.startPosition)
                rope.apply(k.row(r, width: kvWidth), heads: c.kvHeadCount, position: span.startPosition)
                branchKeys.row(b, width: kvWidth).update(from: k.row(r, width: kvWidth), count: kvWidth)
                branchValues.row(b, width: kvWidth).update(from: v.row(r, width: kvWidth), count: kvWidth)
            }
            // Causal grouped-query attention, per sequence and head:
            // scores [n, ctx] = Q_h [n, d] · K_hᵀ, masked, softmax, out_h [n, d] = P · V_h.
            // One query row (a decode step, or a branch) against `prefixLength` cached positions
            // and then its path's branch rows: plain loops, as a BLAS call per head costs more
            // than its work at this size. Uses the row's own row of `scores`.
            func attendOneRow(
                _ rowStart: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                prefixLength: Int, path: [Int]
            ) {
                let row = scores.pointer + rowStart * maxContext  // [context]
                for head in 0..<c.headCount {
                    let kvHead = head / group
                    let qh = q.pointer + rowStart * qWidth + head * headDim
                    for j in 0..<prefixLength {
                        row[j] = scale * Vector.dot(qh, keys + j * kvWidth + kvHead * headDim, count: headDim)
                    }
                    for (i, node) in path.enumerated() {
                        row[prefixLength + i] = scale * Vector.dot(qh, branchKeys.pointer + node * kvWidth + kvHead * headDim, count: headDim)
                    }
                    Vector.softmax(row, count: prefixLength + path.count)
                    let out = attention.pointer + rowStart * qWidth + head * headDim
                    out.update(repeating: 0, count: headDim)
                    for j in 0..<prefixLength {
                        Vector.addScaled(values + j * kvWidth + kvHead * headDim, row[j], into: out, count: headDim)
                    }
                    for (i, node) in path.enumerated() {
                        Vector.addScaled(branchValues.pointer + node * kvWidth + kvHead * headDim, row[prefixLength + i], into: out, count: headDim)
                    }
                }
            }
            // Decode steps, shared out over the threads: each row depends only on its own
            // sequence, so the split changes no result.
            parallelRows(decodeSpans.count, work: decodeWork) { d in
                let span = spans[decodeSpans[d]]
                let cache = batch[span.sequence].cache
                attendOneRow(
                    span.rowStart, keys: cache.keys[l].pointer, values: cache.values[l].pointer,
                    prefixLength: span.startPosition + 1, path: [])
            }
            for span in spans where span.rowCount > 1 {
                let cache = batch[span.sequence].cache
                let n = span.rowCount, context = span.startPosition + n
                for head in 0..<c.headCount {
                    let kvHead = head / group
                    let qh = q.pointer + span.rowStart * qWidth + head * headDim
                    let kh = cache.keys[l].pointer + kvHead * headDim
                    let vh = cache.values[l].pointer + kvHead * headDim
                    cblasScores(qh, lda: qWidth, kh, ldb: kvWidth, scores.pointer, n: n, context: context, headDim: headDim, scale: scale)
                    for i in 0..<n {
                        let row = scores.pointer + i * context
                        let visible = span.startPosition + i + 1
                        for j in visible..<context { row[j] = -.infinity }
                        Vector.softmax(row, count: visible)
                        for j in visible..<context { row[j] = 0 }
                    }
                    let out = attention.pointer + span.rowStart * qWidth + head * headDim
                    cblasWeightedValues(scores.pointer, vh, ldb: kvWidth, out, ldc: qWidth, n: n, context: context, headDim: headDim)
                }
            }
            // Branch rows: the decode-step loops over the prefix's keys, then the path's (the same
            // sums in the same order as a decode step on a copy of the prefix cache), shared out
            // over the threads as the decode steps are.
            parallelRows(branchSpans.count, work: branchWork) { b in
                let prefix = branches[b].prefix
                attendOneRow(
                    branchSpans[b].rowStart, keys: prefix.keys[l].pointer, values: prefix.values[l].pointer,
                    prefixLength: prefixLengths[b], path: paths[b])
            }
            // Output projection and residual.
            linear(arithmetic, block.attentionOutput, attention, projected, plan)
            Vector.add(projected.pointer, into: x.pointer, count: rows * hidden)

            // MLP: norm → gate, up → SwiGLU → down → residual.
            for r in 0..<rows {
                Vector.rmsNorm(x.row(r, width: hidden), weight: block.feedForwardNorm.pointer, epsilon: epsilon, into: h.row(r, width: hidden), count: hidden)
            }
            linear(arithmetic, block.gate, h, gate, plan)
            linear(arithmetic, block.up, h, up, plan)
            Vector.siluMultiply(gate.pointer, up.pointer, count: rows * ffn)
            linear(arithmetic, block.down, gate, projected, plan)
            Vector.add(projected.pointer, into: x.pointer, count: rows * hidden)

            // Hooks see the block output (layer l), may modify it.
            if !hookEntries.isEmpty {
                let stream = ResidualStream(layer: l, hiddenSize: hidden, spans: hookSpans, rowCount: rows, data: x.pointer)
                for entry in hookEntries where entry.hook.layers?.contains(l) ?? true {
                    try entry.hook.process(stream)
                }
            }
        }
        for s in batch { s.cache.advance(by: s.tokens.count) }

        // Final norm and logits: the batch's rows as `mode` asks, then the branches that want them.
        var logitRows: [Int]
        switch mode {
        case .none: logitRows = []
        case .last: logitRows = spans.map { $0.rowStart + $0.rowCount - 1 }
        case .all: logitRows = Array(0..<sequenceRows)
        }
        let sequenceLogitCount = logitRows.count
        var branchLogitIndex = [Int?](repeating: nil, count: branches.count)
        for (b, branch) in branches.enumerated() where branch.wantsLogits {
            branchLogitIndex[b] = logitRows.count
            logitRows.append(branchSpans[b].rowStart)
        }
        guard !logitRows.isEmpty else { return ([], branchLogitIndex.map { _ in nil }) }
        let normed = state.buffer(.normed, logitRows.count * hidden)  // [logit rows, hidden]
        for (i, r) in logitRows.enumerated() {
            Vector.rmsNorm(x.row(r, width: hidden), weight: weights.outputNorm.pointer, epsilon: epsilon, into: normed.row(i, width: hidden), count: hidden)
        }
        let vocab = c.vocabularySize
        let out = FloatBuffer(count: logitRows.count * vocab)  // [logit rows, vocab]: not kept, it is as large as the result
        // Logits always use the per-row kernel: a prefill's last row is a single row, and sgemm's
        // single-row path sums in another order than its multi-row one.
        linear(arithmetic, weights.output, normed, out, RowPlan(allRowKernel: logitRows.count))
        func logits(_ i: Int) -> [Float] { Array(UnsafeBufferPointer(start: out.row(i, width: vocab), count: vocab)) }
        return ((0..<sequenceLogitCount).map(logits), branchLogitIndex.map { $0.map(logits) })
    }
}

/// scores[n, context] = scale · Q[n, d] · K[context, d]ᵀ with row strides lda / ldb.
@inline(__always)
private func cblasScores(
    _ q: UnsafePointer<Float>, lda: Int, _ k: UnsafePointer<Float>, ldb: Int,
    _ scores: UnsafeMutablePointer<Float>, n: Int, context: Int, headDim: Int, scale: Float
) {
    BLAS.gemm(transposeB: true, m: n, n: context, k: headDim, alpha: scale, a: q, lda: lda, b: k, ldb: ldb, beta: 0, c: scores, ldc: context)
}

/// out[n, d] = P[n, context] · V[context, d] with row strides.
@inline(__always)
private func cblasWeightedValues(
    _ p: UnsafePointer<Float>, _ v: UnsafePointer<Float>, ldb: Int,
    _ out: UnsafeMutablePointer<Float>, ldc: Int, n: Int, context: Int, headDim: Int
) {
    BLAS.gemm(transposeB: false, m: n, n: headDim, k: context, alpha: 1, a: p, lda: context, b: v, ldb: ldb, beta: 0, c: out, ldc: ldc)
}

/// body(i) for every i in 0..<count, over QuantizedMatrix.threadCount threads when `work`
/// (multiply-adds) pays for them. The bodies must touch disjoint memory.
private func parallelRows(_ count: Int, work: Int, _ body: (Int) -> Void) {
    let threads = min(QuantizedMatrix.threadCount, count)
    guard threads > 1, work >= 1 << 18 else {
        for i in 0..<count { body(i) }
        return
    }
    // A few chunks per thread, so that a thread slowed down by other work does not hold up the rest.
    let chunks = min(count, 4 * threads), perChunk = (count + chunks - 1) / chunks
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        for i in min(count, chunk * perChunk)..<min(count, (chunk + 1) * perChunk) { body(i) }
    }
}
