// Activation steering as the reference `ActivationSteerer` defines it (DESIGN.md): add
// `coeff × vector` to the output of decoder block `layer` at the chosen positions:
// - `all`: every position of every pass;
// - `prompt`: every position of a multi-token (prefill) pass, nothing on single-token decode steps;
// - `response`: only the last position of every pass (in prefill, the last prompt token).
// Several vectors on several layers at once (`ActivationSteererMultiple`). Attach for a scope with
// `Transformer.withHooks`, so the hook is removed on every exit path.
import PersonaModel
import PersonaTensor

extension SteeringPositions {
    /// The rows of `span` this mode touches.
    public func rows(of span: SequenceSpan) -> Range<Int> {
        switch self {
        case .all: return span.rowStart..<(span.rowStart + span.rowCount)
        case .prompt: return span.kind == .prefill ? span.rowStart..<(span.rowStart + span.rowCount) : span.rowStart..<span.rowStart
        case .response: return (span.rowStart + span.rowCount - 1)..<(span.rowStart + span.rowCount)
        }
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

/// Adds `coeff × vector` at one or more layers.
public final class SteeringHook: LayerHook {
    public let specs: [SteeringSpec]
    public let layers: Set<Int>?

    /// Validates every spec against the model (width, layer, finite values).
    public init(_ specs: [SteeringSpec], config: ModelConfig) throws {
        for (i, s) in specs.enumerated() {
            try validate(vector: s.vector, layer: s.layer, config: config, what: "steering vector \(i)")
        }
        self.specs = specs
        self.layers = Set(specs.map(\.layer))
    }

    public func process(_ stream: ResidualStream) throws {
        for spec in specs where spec.layer == stream.layer && spec.coefficient != 0 {
            spec.vector.withUnsafeBufferPointer { v in
                for span in stream.spans {
                    for r in spec.positions.rows(of: span) {
                        Vector.addScaled(v.baseAddress!, spec.coefficient, into: stream.row(r), count: stream.hiddenSize)
                    }
                }
            }
        }
    }
}
