// Where the server finds the vectors that requests name in `steering`. Today: safetensors files
// given at start (`persona serve --vector NAME=FILE`). A run-store lookup (vectors extracted by a
// run, by trait name) plugs in as another `SteeringVectorSource`.
import Foundation
import PersonaCore
import PersonaModel

/// Resolves a vector name and layer to the values to add.
public protocol SteeringVectorSource: Sendable {
    /// The names this source knows (for error messages and `GET /v1/models`).
    var vectorNames: [String] { get }
    /// The vector `name` at `layer`; nil when the name is unknown. Throws when the name is known but
    /// the layer is not available.
    func vector(named name: String, layer: Int) throws -> [Float]?
}

/// Vector files loaded at start, checked against the model.
public struct VectorFileSource: SteeringVectorSource {
    private let vectors: [String: (path: String, vectors: TraitVectors)]

    public var vectorNames: [String] { vectors.keys.sorted() }

    /// Reads every `name → path` file and checks it against `config`.
    public init(files: [String: String], config: ModelConfig) throws {
        var loaded: [String: (String, TraitVectors)] = [:]
        for (name, path) in files {
            let v = try TraitVectors.read(path: path)
            try v.check(against: config, path: path)
            loaded[name] = (path, v)
        }
        vectors = loaded
    }

    public func vector(named name: String, layer: Int) throws -> [Float]? {
        guard let entry = vectors[name] else { return nil }
        return try entry.vectors.vector(layer: layer, path: entry.path)
    }
}

/// Several sources, asked in order.
public struct CombinedVectorSource: SteeringVectorSource {
    public let sources: [any SteeringVectorSource]
    public init(_ sources: [any SteeringVectorSource]) { self.sources = sources }
    public var vectorNames: [String] { sources.flatMap(\.vectorNames) }
    public func vector(named name: String, layer: Int) throws -> [Float]? {
        for s in sources { if let v = try s.vector(named: name, layer: layer) { return v } }
        return nil
    }
}
