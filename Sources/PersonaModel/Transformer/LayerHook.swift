// Layer hooks: after every decoder block, registered hooks see the residual stream and may read or
// modify it. Capture, steering, capping and hook plugins are all hooks.
//
// Layer index convention (DESIGN.md): layer L is the output of decoder block L (0-based), i.e.
// Hugging Face `hidden_states[L + 1]`, before the final norm.

/// Whether a sequence's part of a pass is a multi-token prefill or a single-token decode step.
public enum PassKind: String, Sendable, Codable {
    case prefill
    case decode
}

/// The rows of one sequence inside a pass.
public struct SequenceSpan: Equatable, Sendable {
    /// Index of the sequence in the batch given to `forward`.
    public let sequence: Int
    /// The caller's identifier for the sequence (`SequenceInput.id`).
    public let id: Int
    /// First row of this sequence in the residual matrix.
    public let rowStart: Int
    /// Number of rows (tokens) this sequence has in the pass.
    public let rowCount: Int
    /// Absolute position of the first row (the sequence's cache length before the pass).
    public let startPosition: Int
    /// `.prefill` when the sequence has several tokens in this pass, `.decode` for one.
    public var kind: PassKind { rowCount > 1 ? .prefill : .decode }
}

/// The residual stream after block `layer`: a row-major `[rows, hiddenSize]` matrix holding the
/// new tokens of every sequence in the pass, one span of rows per sequence (ragged, no padding).
public struct ResidualStream {
    public let layer: Int
    public let hiddenSize: Int
    public let spans: [SequenceSpan]
    public let rowCount: Int
    /// Mutable: hooks may change the stream; later blocks see the change.
    public let data: UnsafeMutablePointer<Float>

    /// The kind of the whole pass: `.decode` when every sequence has one token.
    public var passKind: PassKind { spans.contains { $0.rowCount > 1 } ? .prefill : .decode }

    /// Pointer to row `row`.
    @inline(__always) public func row(_ row: Int) -> UnsafeMutablePointer<Float> { data + row * hiddenSize }
}

/// Something called with the residual stream after blocks.
public protocol LayerHook: AnyObject {
    /// The layers this hook wants; nil for every layer.
    var layers: Set<Int>? { get }
    /// Reads and/or modifies the stream. A thrown error aborts the forward pass.
    func process(_ stream: ResidualStream) throws
}
