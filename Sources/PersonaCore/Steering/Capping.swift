// Projection interventions on a unit direction v̂, applied to every row of the batch at one layer:
// - cap (activation capping): h ← h − max(h·v̂ − τ, 0)·v̂   (the projection never exceeds τ);
// - floor:                    h ← h + max(τ − h·v̂, 0)·v̂   (the projection never falls below τ);
// - ablation:                 h ← h − (h·v̂)·v̂             (the direction is removed).
import PersonaModel
import PersonaTensor

/// Applies a projection intervention at one layer.
public final class ProjectionHook: LayerHook, Sendable {
    public let layer: Int
    public let intervention: ProjectionIntervention
    public let positions: SteeringPositions
    let unit: [Float]
    public var layers: Set<Int>? { [layer] }

    public init(
        direction: [Float], layer: Int, intervention: ProjectionIntervention,
        positions: SteeringPositions = .all, config: ModelConfig
    ) throws {
        try validate(vector: direction, layer: layer, config: config, what: "direction")
        let norm = direction.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        guard norm > 0 else { throw SteeringError.zeroVector(what: "direction") }
        self.unit = direction.map { Float(Double($0) / norm) }
        self.layer = layer
        self.intervention = intervention
        self.positions = positions
    }

    public func process(_ stream: ResidualStream) throws {
        guard stream.layer == layer else { return }
        for span in stream.spans { apply(to: stream, span: span) }
    }

    /// The intervention on one span's rows (`positions`, placed by `promptLength` when the pass
    /// holds the answer too) of this hook's layer; `SteeringHook` calls it for the sequences that asked for it.
    public func apply(to stream: ResidualStream, span: SequenceSpan, promptLength: Int? = nil) {
        unit.withUnsafeBufferPointer { u in
            guard let v = u.baseAddress else { return }
            for r in positions.rows(of: span, promptLength: promptLength) {
                let h = stream.row(r)
                let projection = Vector.dot(h, v, count: stream.hiddenSize)
                let amount: Float
                switch intervention {
                case .cap(let tau): amount = -max(projection - tau, 0)
                case .floor(let tau): amount = max(tau - projection, 0)
                case .ablate: amount = -projection
                }
                if amount != 0 { Vector.addScaled(v, amount, into: h, count: stream.hiddenSize) }
            }
        }
    }
}
