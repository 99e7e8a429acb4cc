// Steering that differs per sequence of a ragged batch: each sequence (identified by
// `SequenceInput.id`, which hooks see as `SequenceSpan.id`) gets its own list of vectors, applied
// to its own rows only, with the same position modes as `SteeringHook`. The server uses it so that
// concurrent requests with different `steering` share one forward pass. Sequences without an entry
// are untouched (bit-identical to no steering).
import PersonaModel
import PersonaTensor

public final class SequenceSteeringHook: LayerHook {
    private let config: ModelConfig
    /// Steering per sequence id. Set between passes, never during one.
    public private(set) var specsByID: [Int: [SteeringSpec]] = [:]
    public private(set) var layers: Set<Int>? = []

    public init(config: ModelConfig) { self.config = config }

    /// Checks specs against the model (width, layer, finite values) without attaching them.
    public static func validate(_ specs: [SteeringSpec], config: ModelConfig) throws {
        for (i, s) in specs.enumerated() {
            try PersonaCore.validate(vector: s.vector, layer: s.layer, config: config, what: "steering vector \(i)")
        }
    }

    /// Sets (or, with an empty list, clears) the steering of sequence `id`.
    public func set(_ specs: [SteeringSpec], for id: Int) throws {
        try Self.validate(specs, config: config)
        if specs.isEmpty { specsByID[id] = nil } else { specsByID[id] = specs }
        layers = Set(specsByID.values.flatMap { $0.map(\.layer) })
    }

    public func remove(_ id: Int) {
        guard specsByID.removeValue(forKey: id) != nil else { return }
        layers = Set(specsByID.values.flatMap { $0.map(\.layer) })
    }

    public func process(_ stream: ResidualStream) throws {
        for span in stream.spans {
            guard let specs = specsByID[span.id] else { continue }
            for spec in specs where spec.layer == stream.layer && spec.coefficient != 0 {
                spec.vector.withUnsafeBufferPointer { v in
                    for r in spec.positions.rows(of: span) {
                        Vector.addScaled(v.baseAddress!, spec.coefficient, into: stream.row(r), count: stream.hiddenSize)
                    }
                }
            }
        }
    }
}
