// Steering specs from vector files named on the command line or in a request.
import PersonaModel

extension SteeringSpec {
    /// Reads `path` (a vector file, DESIGN.md) and takes its row for `layer`, checked against the model.
    public static func load(path: String, layer: Int, coefficient: Float, positions: SteeringPositions, config: ModelConfig) throws -> SteeringSpec {
        let vectors = try TraitVectors.read(path: path)
        guard vectors.hiddenSize == config.hiddenSize else {
            throw VectorFileError.widthMismatch(path: path, width: vectors.hiddenSize, hiddenSize: config.hiddenSize)
        }
        guard (0..<config.layerCount).contains(layer) else { throw SteeringError.layerOutOfRange(layer: layer, layerCount: config.layerCount) }
        return SteeringSpec(vector: try vectors.vector(layer: layer, path: path), layer: layer, coefficient: coefficient, positions: positions)
    }
}
