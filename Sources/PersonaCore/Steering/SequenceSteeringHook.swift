// Steering that differs per sequence of a ragged batch: each sequence (identified by
// `SequenceInput.id`, which hooks see as `SequenceSpan.id`) gets its own list of vectors, applied
// to its own rows only, with the same position modes as `SteeringHook`. The server uses it so that
// concurrent requests with different `steering` share one forward pass. Sequences without an entry
// are untouched (bit-identical to no steering). A sequence may also carry projection interventions
// (`ProjectionHook`: ablation, capping), applied to its rows after its steering at each block —
// the order `persona generate --steer … --ablate …` uses.
import PersonaModel
import PersonaTensor

public final class SequenceSteeringHook: LayerHook {
    private let config: ModelConfig
    /// Steering per sequence id. Set between passes, never during one.
    public private(set) var specsByID: [Int: [SteeringSpec]] = [:]
    /// Projection interventions per sequence id, each at its own layer.
    public private(set) var projectionsByID: [Int: [ProjectionHook]] = [:]
    public private(set) var layers: Set<Int>? = []

    public init(config: ModelConfig) { self.config = config }

    /// Checks specs against the model (width, layer, finite values) without attaching them.
    public static func validate(_ specs: [SteeringSpec], config: ModelConfig) throws {
        for (i, s) in specs.enumerated() {
            try PersonaCore.validate(vector: s.vector, layer: s.layer, config: config, what: "steering vector \(i)")
        }
    }

    /// Sets (or, with empty lists, clears) the steering and projection interventions of sequence `id`.
    public func set(_ specs: [SteeringSpec], projections: [ProjectionHook] = [], for id: Int) throws {
        try Self.validate(specs, config: config)
        for p in projections where !(0..<config.layerCount).contains(p.layer) {
            throw SteeringError.layerOutOfRange(layer: p.layer, layerCount: config.layerCount)
        }
        specsByID[id] = specs.isEmpty ? nil : specs
        projectionsByID[id] = projections.isEmpty ? nil : projections
        updateLayers()
    }

    public func remove(_ id: Int) {
        let steered = specsByID.removeValue(forKey: id) != nil
        let projected = projectionsByID.removeValue(forKey: id) != nil
        if steered || projected { updateLayers() }
    }

    private func updateLayers() {
        layers = Set(specsByID.values.flatMap { $0.map(\.layer) }).union(projectionsByID.values.flatMap { $0.map(\.layer) })
    }

    public func process(_ stream: ResidualStream) throws {
        for span in stream.spans {
            for spec in specsByID[span.id] ?? [] where spec.layer == stream.layer && spec.coefficient != 0 {
                spec.vector.withUnsafeBufferPointer { v in
                    for r in spec.positions.rows(of: span) {
                        Vector.addScaled(v.baseAddress!, spec.coefficient, into: stream.row(r), count: stream.hiddenSize)
                    }
                }
            }
            for projection in projectionsByID[span.id] ?? [] where projection.layer == stream.layer {
                projection.apply(to: stream, span: span)
            }
        }
    }
}
