// Projection interventions (capping, directional ablation) from vector files named on the command
// line: the seam between `--cap FILE` / `--ablate FILE` and `ProjectionHook`.
//
// Which direction applies at which layer:
// - a single-vector file (`vector`, [hidden]) applies its one direction at every chosen layer;
// - a `[layers, hidden]` file applies row L at layer L, unless `directionLayer` names one row to
//   use at every chosen layer. Arditi et al. (2024) ablate ONE direction (taken from one layer) at
//   every layer; per-layer rows are what a trait vector file holds, so both are offered.
// No layers chosen means every block of the model.
import PersonaModel

/// A projection intervention read from a vector file.
public struct ProjectionSpec: Equatable, Sendable {
    public var path: String
    public var intervention: ProjectionIntervention
    /// Blocks to intervene at; nil = every block.
    public var layers: [Int]?
    /// Row of a `[layers, hidden]` file used at every chosen layer; nil = row L at layer L.
    public var directionLayer: Int?
    public var positions: SteeringPositions

    public init(
        path: String, intervention: ProjectionIntervention, layers: [Int]? = nil, directionLayer: Int? = nil,
        positions: SteeringPositions = .all
    ) {
        self.path = path; self.intervention = intervention; self.layers = layers
        self.directionLayer = directionLayer; self.positions = positions
    }

    /// "ablate FILE (row 14) at every block", "cap τ=3 FILE at blocks 10, 12" (for records and logs).
    public var description: String {
        let what: String
        switch intervention {
        case .ablate: what = "ablate"
        case let .cap(threshold): what = "cap τ=\(threshold)"
        case let .floor(threshold): what = "floor τ=\(threshold)"
        }
        let row = directionLayer.map { " (row \($0))" } ?? ""
        let at = layers.map { "blocks " + $0.map(String.init).joined(separator: ", ") } ?? "every block"
        return "\(what) \(path)\(row) at \(at)"
    }

    /// One hook per chosen layer, each checked against the model (width, layer range, finite, non-zero).
    public func makeHooks(config: ModelConfig) throws -> [ProjectionHook] {
        try makeHooks(vectors: TraitVectors.read(path: path), config: config)
    }

    /// As `makeHooks(config:)`, for vectors already in memory (`path` only names them in errors).
    public func makeHooks(vectors: TraitVectors, config: ModelConfig) throws -> [ProjectionHook] {
        guard vectors.hiddenSize == config.hiddenSize else {
            throw VectorFileError.widthMismatch(path: path, width: vectors.hiddenSize, hiddenSize: config.hiddenSize)
        }
        let chosen = layers ?? Array(0..<config.layerCount)
        for l in chosen where !(0..<config.layerCount).contains(l) {
            throw SteeringError.layerOutOfRange(layer: l, layerCount: config.layerCount)
        }
        let fixed = try directionLayer.map { try vectors.vector(layer: $0, path: path) }
        return try chosen.map { l in
            let direction = try fixed ?? vectors.vector(layer: l, path: path)
            // Name the file and row: ProjectionHook alone can only say "direction".
            let what = "\(path) row \(directionLayer ?? (vectors.isSingle ? 0 : l))"
            guard direction.allSatisfy(\.isFinite) else { throw SteeringError.notFinite(what: what) }
            guard direction.contains(where: { $0 != 0 }) else { throw SteeringError.zeroVector(what: what) }
            return try ProjectionHook(direction: direction, layer: l, intervention: intervention, positions: positions, config: config)
        }
    }
}
