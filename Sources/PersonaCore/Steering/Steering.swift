// Activation steering as the reference `ActivationSteerer` defines it (DESIGN.md): add
// `coeff × vector` to the output of decoder block `layer` at the chosen positions. One hook does
// all of it (`SteeringHook`):
// - vectors for every sequence of a pass (`persona generate --steer`, the pipeline's steered answers),
//   several vectors on several layers at once (`ActivationSteererMultiple`);
// - vectors and projection interventions (ablation, capping) per sequence of a ragged batch, so that
//   the server's concurrent requests with different `steering` share one forward pass, and a
//   sequence's projections run after its steering at each block (the order of `--steer … --ablate …`);
// - passes that feed a prompt and its answer together (teacher forcing, activation capture), where
//   each sequence's prompt length places the positions as generation would have placed them.
// Positions are defined once, by `SteeringPositions.rows(of:promptLength:)` below.
// Attach for a scope with `Transformer.withHooks`, so the hook is removed on every exit path.
import PersonaModel
import PersonaTensor

extension SteeringPositions {
    /// The rows of `span` this mode touches: the one definition of positions. For a sequence whose
    /// prompt has P tokens, `all` is every position, `prompt` positions 0…P−1 (none when P = 1) and
    /// `response` positions P−1 onwards (the last prompt token, then every generated token).
    ///
    /// `promptLength` nil is a generation pass, which tells prompt from response by its size: a pass
    /// of several rows ends the prompt (P is its end), a one-row pass is a decode step (one response
    /// token; a one-token prompt counts as one). So `prompt` touches whole prefill passes and no
    /// decode step, `response` the last row of every pass.
    public func rows(of span: SequenceSpan, promptLength: Int? = nil) -> Range<Int> {
        let first = span.startPosition, end = first + span.rowCount
        let p = promptLength ?? (span.rowCount > 1 ? end : first)
        let lo: Int, hi: Int
        switch self {
        case .all: lo = first; hi = end
        case .prompt: lo = first; hi = p > 1 ? min(end, p) : first
        case .response: lo = max(first, p - 1); hi = end
        }
        guard hi > lo else { return span.rowStart..<span.rowStart }
        return (span.rowStart + lo - first)..<(span.rowStart + hi - first)
    }
}

public enum SteeringError: Error, CustomStringConvertible, Equatable {
    case wrongWidth(what: String, expected: Int, found: Int)
    case layerOutOfRange(layer: Int, layerCount: Int)
    case zeroVector(what: String)
    case notFinite(what: String)

    public var description: String {
        switch self {
        case let .wrongWidth(what, expected, found): return "\(what) has \(found) values; the model's hidden size is \(expected)"
        case let .layerOutOfRange(layer, count): return "layer \(layer) is out of range: the model has blocks 0…\(count - 1)"
        case let .zeroVector(what): return "\(what) is the zero vector: it has no direction"
        case let .notFinite(what): return "\(what) holds NaN or infinite values"
        }
    }
}

/// One steering vector applied at one layer.
public struct SteeringSpec: Equatable, Sendable {
    public var vector: [Float]
    public var layer: Int
    public var coefficient: Float
    public var positions: SteeringPositions

    public init(vector: [Float], layer: Int, coefficient: Float, positions: SteeringPositions = .response) {
        self.vector = vector; self.layer = layer; self.coefficient = coefficient; self.positions = positions
    }
}

/// Checks a vector against the model.
func validate(vector: [Float], layer: Int, config: ModelConfig, what: String) throws {
    guard vector.count == config.hiddenSize else { throw SteeringError.wrongWidth(what: what, expected: config.hiddenSize, found: vector.count) }
    guard (0..<config.layerCount).contains(layer) else { throw SteeringError.layerOutOfRange(layer: layer, layerCount: config.layerCount) }
    guard vector.allSatisfy(\.isFinite) else { throw SteeringError.notFinite(what: what) }
}

/// Adds `coeff × vector` at one or more layers, for every sequence (`shared`) and per sequence id
/// (`SequenceSpan.id`), then applies each sequence's projection interventions. Per-sequence entries
/// are set between passes, never during one; a sequence without any is untouched (bit-identical to
/// no hook).
public final class SteeringHook: LayerHook {
    private let config: ModelConfig
    /// Steering applied to every sequence.
    public let shared: [SteeringSpec]
    public private(set) var specsByID: [Int: [SteeringSpec]] = [:]
    /// Projection interventions per sequence id, each at its own layer.
    public private(set) var projectionsByID: [Int: [ProjectionHook]] = [:]
    /// Prompt length per sequence id, for passes that hold a prompt and its answer together; a
    /// sequence without one is placed by its pass (see `SteeringPositions.rows`).
    public private(set) var promptLengths: [Int: Int]
    public private(set) var layers: Set<Int>?

    /// Steering for every sequence; validates every spec against the model (width, layer, finite values).
    public convenience init(_ specs: [SteeringSpec], promptLengths: [Int: Int] = [:], config: ModelConfig) throws {
        try Self.validate(specs, config: config)
        self.init(config: config, shared: specs, promptLengths: promptLengths)
    }

    /// A hook without steering of its own, for per-sequence entries (`set`).
    public convenience init(config: ModelConfig) { self.init(config: config, shared: [], promptLengths: [:]) }

    private init(config: ModelConfig, shared: [SteeringSpec], promptLengths: [Int: Int]) {
        self.config = config
        self.shared = shared
        self.promptLengths = promptLengths
        self.layers = Set(shared.map(\.layer))
    }

    /// Checks specs against the model (width, layer, finite values) without attaching them.
    public static func validate(_ specs: [SteeringSpec], config: ModelConfig) throws {
        for (i, s) in specs.enumerated() {
            try PersonaCore.validate(vector: s.vector, layer: s.layer, config: config, what: "steering vector \(i)")
        }
    }

    /// Whether the hook changes anything.
    public var isEmpty: Bool { shared.isEmpty && specsByID.isEmpty && projectionsByID.isEmpty }

    /// Sets (or, with empty lists, clears) the steering and projection interventions of sequence
    /// `id`, and its prompt length when its pass holds its answer too. Projection hooks were checked
    /// against the model when they were made.
    public func set(_ specs: [SteeringSpec], projections: [ProjectionHook] = [], promptLength: Int? = nil, for id: Int) throws {
        try Self.validate(specs, config: config)
        specsByID[id] = specs.isEmpty ? nil : specs
        projectionsByID[id] = projections.isEmpty ? nil : projections
        promptLengths[id] = promptLength
        updateLayers()
    }

    public func remove(_ id: Int) {
        let steered = specsByID.removeValue(forKey: id) != nil
        let projected = projectionsByID.removeValue(forKey: id) != nil
        promptLengths[id] = nil
        if steered || projected { updateLayers() }
    }

    private func updateLayers() {
        layers = Set(shared.map(\.layer)).union(specsByID.values.flatMap { $0.map(\.layer) })
            .union(projectionsByID.values.flatMap { $0.map(\.layer) })
    }

    public func process(_ stream: ResidualStream) throws {
        for span in stream.spans {
            let promptLength = promptLengths[span.id]
            for spec in shared { add(spec, to: stream, span: span, promptLength: promptLength) }
            for spec in specsByID[span.id] ?? [] { add(spec, to: stream, span: span, promptLength: promptLength) }
            for projection in projectionsByID[span.id] ?? [] where projection.layer == stream.layer {
                projection.apply(to: stream, span: span, promptLength: promptLength)
            }
        }
    }

    private func add(_ spec: SteeringSpec, to stream: ResidualStream, span: SequenceSpan, promptLength: Int?) {
        guard spec.layer == stream.layer, spec.coefficient != 0 else { return }
        spec.vector.withUnsafeBufferPointer { v in
            guard let base = v.baseAddress else { return }
            for r in spec.positions.rows(of: span, promptLength: promptLength) {
                Vector.addScaled(base, spec.coefficient, into: stream.row(r), count: stream.hiddenSize)
            }
        }
    }
}
