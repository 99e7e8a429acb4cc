// Activation capture during generation, accumulated on the fly (no second forward pass): per
// sequence and per layer, the mean over the response tokens, the mean over the prompt tokens and
// the last prompt token's hidden state.
//
// Which rows are which: positions below the sequence's prompt length are prompt tokens; every
// later position is a response token, fed back one per decode step. The end token is never fed, so
// it never counts (DESIGN.md: response tokens exclude the end token); `Generator.feedFinalToken`
// feeds the last token of a sequence that stopped without one. For answers produced elsewhere, one
// pass over prompt + answer with the prompt length announced gives the same summaries. A shared
// prefix computed before the hook was attached is not seen: the prompt mean then covers only the
// tokens after the prefix.
import PersonaModel

/// Per-layer summaries of one sequence's hidden states.
public struct ActivationSummary: Sendable, Equatable {
    /// [layer][hidden]: mean over response tokens (empty rows when there were none).
    public var responseMean: [[Float]]
    /// [layer][hidden]: mean over prompt tokens.
    public var promptMean: [[Float]]
    /// [layer][hidden]: the last prompt token.
    public var promptLast: [[Float]]
    public var responseTokenCount: Int
    public var promptTokenCount: Int
}

/// Accumulates summaries for every sequence id it sees. A row at absolute position p of sequence
/// `id` is a prompt token when p < promptLength(id), else a response token. Prompt lengths are set
/// with `expect(id:promptLength:)`; for an id never announced, its first pass is taken as the prompt.
public final class ActivationCaptureHook: LayerHook {
    public let layers: Set<Int>? = nil
    let layerCount: Int
    let hidden: Int
    private final class Accumulator {
        var responseSum: [[Double]], promptSum: [[Double]], promptLast: [[Float]]
        var responseCount = 0, promptCount = 0
        var promptLength: Int?
        init(layers: Int, hidden: Int, promptLength: Int?) {
            responseSum = Array(repeating: Array(repeating: 0, count: hidden), count: layers)
            promptSum = responseSum
            promptLast = Array(repeating: Array(repeating: 0, count: hidden), count: layers)
            self.promptLength = promptLength
        }
    }
    private var accumulators: [Int: Accumulator] = [:]

    public init(config: ModelConfig) {
        layerCount = config.layerCount
        hidden = config.hiddenSize
    }

    /// Announces that sequence `id`'s first `promptLength` positions are its prompt.
    public func expect(id: Int, promptLength: Int) {
        accumulators[id] = Accumulator(layers: layerCount, hidden: hidden, promptLength: promptLength)
    }

    public func process(_ stream: ResidualStream) throws {
        let layer = stream.layer
        let lastLayer = layer == layerCount - 1
        for span in stream.spans {
            let acc =
                accumulators[span.id]
                ?? {
                    let a = Accumulator(layers: layerCount, hidden: hidden, promptLength: span.startPosition + span.rowCount)
                    accumulators[span.id] = a
                    return a
                }()
            let promptLength = acc.promptLength ?? 0
            for i in 0..<span.rowCount {
                let position = span.startPosition + i
                let row = stream.row(span.rowStart + i)
                if position < promptLength {
                    for j in 0..<hidden { acc.promptSum[layer][j] += Double(row[j]) }
                    if position == promptLength - 1 { acc.promptLast[layer] = Array(UnsafeBufferPointer(start: row, count: hidden)) }
                    if lastLayer { acc.promptCount += 1 }
                } else {
                    for j in 0..<hidden { acc.responseSum[layer][j] += Double(row[j]) }
                    if lastLayer { acc.responseCount += 1 }
                }
            }
        }
    }

    /// The summary of sequence `id`, or nil when it was never seen.
    public func summary(for id: Int) -> ActivationSummary? {
        guard let a = accumulators[id] else { return nil }
        func mean(_ sums: [[Double]], _ n: Int) -> [[Float]] {
            n == 0 ? sums.map { _ in [] } : sums.map { $0.map { Float($0 / Double(n)) } }
        }
        return ActivationSummary(
            responseMean: mean(a.responseSum, a.responseCount), promptMean: mean(a.promptSum, a.promptCount),
            promptLast: a.promptLast, responseTokenCount: a.responseCount, promptTokenCount: a.promptCount)
    }

    /// Forgets everything (reuse across batches).
    public func reset() { accumulators.removeAll() }
}
