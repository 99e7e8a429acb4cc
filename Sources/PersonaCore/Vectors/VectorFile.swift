// Trait vector files (DESIGN.md, "Vector files"): safetensors with one float32 tensor `vectors`
// of shape [numLayers, hidden] (row L for block L) and string metadata `persona.trait`,
// `persona.method`, `persona.model`, `persona.arithmetic` (exact or fast: which arithmetic made
// it), `persona.layers = "block-output"`; or a single [hidden]
// tensor `vector`, applied at the layer the user names. Everything that reads vectors accepts both.
import Foundation
import PersonaModel

public enum VectorFileError: Error, CustomStringConvertible, Equatable {
    case noVectorTensor(path: String, found: [String])
    case badShape(path: String, tensor: String, shape: [Int])
    case layerOutOfRange(path: String, layer: Int, layerCount: Int)
    case layerRequired(path: String)
    case widthMismatch(path: String, width: Int, hiddenSize: Int)
    case layerCountMismatch(path: String, layers: Int, modelLayers: Int)

    public var description: String {
        switch self {
        case let .noVectorTensor(path, found):
            return "\(path): no float32 tensor named \"vectors\" ([layers, hidden]) or \"vector\" ([hidden]); found \(found)"
        case let .badShape(path, tensor, shape): return "\(path): tensor \"\(tensor)\" has shape \(shape)"
        case let .layerOutOfRange(path, layer, count): return "\(path): layer \(layer) is out of range (the file holds layers 0…\(count - 1))"
        case let .layerRequired(path): return "\(path): holds vectors for every layer: name one with --layer"
        case let .widthMismatch(path, width, hidden): return "\(path): vectors have width \(width), the model's hidden size is \(hidden)"
        case let .layerCountMismatch(path, layers, modelLayers): return "\(path): holds \(layers) layers, the model has \(modelLayers)"
        }
    }
}

extension LanguageModel {
    /// A vector file's metadata: `fields` and what it says of the model that made it, the
    /// weights' fingerprint and the arithmetic the activations were computed with.
    public func vectorMetadata(_ fields: [String: String]) -> [String: String] {
        fields.merging(["persona.model": fingerprint, "persona.arithmetic": transformer.effectiveArithmetic.rawValue]) { own, _ in own }
    }
}

/// A trait vector file in memory.
public struct TraitVectors: Equatable, Sendable {
    /// [layer][hidden] when the file holds every layer; a single row for a `vector` file.
    public var rows: [[Float]]
    /// True for a single-vector file (`vector`), which applies at any layer.
    public var isSingle: Bool
    public var metadata: [String: String]

    public init(rows: [[Float]], isSingle: Bool = false, metadata: [String: String] = [:]) {
        self.rows = rows; self.isSingle = isSingle; self.metadata = metadata
    }

    public var hiddenSize: Int { rows.first?.count ?? 0 }

    /// Reads a vector file.
    public static func read(path: String) throws -> TraitVectors {
        let file = try SafetensorsFile(path: path)
        if let t = file.tensor(named: "vectors") {
            guard t.shape.count == 2, t.shape[0] > 0, t.shape[1] > 0 else { throw VectorFileError.badShape(path: path, tensor: "vectors", shape: t.shape) }
            let values = try file.floats(of: t)
            let width = t.shape[1]
            return TraitVectors(rows: (0..<t.shape[0]).map { Array(values[($0 * width)..<(($0 + 1) * width)]) }, metadata: file.metadata)
        }
        if let t = file.tensor(named: "vector") {
            guard t.shape.count == 1, t.shape[0] > 0 else { throw VectorFileError.badShape(path: path, tensor: "vector", shape: t.shape) }
            return TraitVectors(rows: [try file.floats(of: t)], isSingle: true, metadata: file.metadata)
        }
        throw VectorFileError.noVectorTensor(path: path, found: file.tensors.map(\.name))
    }

    /// The vector to apply at `layer` (any layer for a single-vector file).
    public func vector(layer: Int, path: String = "<vectors>") throws -> [Float] {
        if isSingle { return rows[0] }
        guard (0..<rows.count).contains(layer) else { throw VectorFileError.layerOutOfRange(path: path, layer: layer, layerCount: rows.count) }
        return rows[layer]
    }

    /// Checks the file fits a model.
    public func check(against config: ModelConfig, path: String) throws {
        guard hiddenSize == config.hiddenSize else { throw VectorFileError.widthMismatch(path: path, width: hiddenSize, hiddenSize: config.hiddenSize) }
        if !isSingle && rows.count != config.layerCount {
            throw VectorFileError.layerCountMismatch(path: path, layers: rows.count, modelLayers: config.layerCount)
        }
    }

    /// Writes the file (atomically), with `persona.layers = "block-output"`.
    public func write(to url: URL) throws {
        var meta = metadata
        let tensor: SafetensorsWriter.Tensor
        if isSingle {
            tensor = .init(name: "vector", shape: [hiddenSize], values: rows[0])
        } else {
            meta["persona.layers"] = "block-output"
            tensor = .init(name: "vectors", shape: [rows.count, hiddenSize], values: rows.flatMap { $0 })
        }
        try SafetensorsWriter.write([tensor], metadata: meta, to: url)
    }
}
