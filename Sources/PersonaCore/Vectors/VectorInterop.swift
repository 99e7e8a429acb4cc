// Vector interop: llama.cpp control vectors (GGUF), safetensors export, import of the reference
// repo's `.pt` files and of our own files, and a summary for `persona vectors show`.
//
// llama.cpp control vectors (common/common.cpp, `common_control_vector_load_one`): every tensor is
// a 1-D float32 `direction.N` with N ≥ 1, all of one width; `direction.N` is added to the output of
// block N (llama_adapter_cvec applies tensors[il] at layer il; block 0 cannot be addressed). Ours:
// row L is the output of block L (DESIGN.md), so row L is written as `direction.L` and row 0 is
// dropped — with a warning when it is not zero. Metadata as llama.cpp's cvector-generator writes:
// `general.architecture = "controlvector"`, `controlvector.model_hint`, `controlvector.layer_count`
// (the number of direction tensors).
import Foundation
import PersonaModel

public enum VectorExportError: Error, CustomStringConvertible, Equatable {
    case badTensor(name: String, reason: String)
    case singleVectorNeedsLayer(path: String)
    case tooFewLayers(path: String, layers: Int)
    case notAControlVector(path: String, reason: String)
    case unknownFormat(path: String)

    public var description: String {
        switch self {
        case let .badTensor(name, reason): return "tensor \"\(name)\": \(reason)"
        case let .singleVectorNeedsLayer(path):
            return "\(path) holds a single vector: name the block it belongs to with --layer (≥ 1) to export it for llama.cpp"
        case let .tooFewLayers(path, layers):
            return "\(path) holds \(layers) layer(s); llama.cpp cannot address block 0, so at least 2 rows are needed"
        case let .notAControlVector(path, reason): return "\(path): not a llama.cpp control vector (\(reason))"
        case let .unknownFormat(path):
            return "\(path): unknown vector file type (expected .safetensors, .pt/.pth or a control-vector .gguf)"
        }
    }
}

public enum ControlVectorGGUF {
    /// The GGUF bytes for `vectors`, and warnings for the user (row 0 dropped while non-zero).
    /// A single-vector file is written as `direction.layer` (`layer` ≥ 1 required).
    public static func encode(
        _ vectors: TraitVectors, modelHint: String, layer: Int? = nil,
        path: String = "<vectors>"
    ) throws -> (data: Data, warnings: [String]) {
        var warnings: [String] = []
        var tensors: [GGUFWriter.Tensor] = []
        var layerCount: Int
        if vectors.isSingle {
            guard let layer, layer >= 1 else { throw VectorExportError.singleVectorNeedsLayer(path: path) }
            tensors.append(.init(name: "direction.\(layer)", shape: [vectors.hiddenSize], values: vectors.rows[0]))
            layerCount = 1
        } else {
            guard vectors.rows.count >= 2 else { throw VectorExportError.tooFewLayers(path: path, layers: vectors.rows.count) }
            if vectors.rows[0].contains(where: { $0 != 0 }) {
                let norm = vectors.rows[0].reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
                warnings.append("row 0 (output of block 0, norm \(String(format: "%.4g", norm))) is not written: llama.cpp cannot steer block 0")
            }
            for l in 1..<vectors.rows.count {
                tensors.append(.init(name: "direction.\(l)", shape: [vectors.hiddenSize], values: vectors.rows[l]))
            }
            layerCount = tensors.count
        }
        var metadata: [(String, GGUFWriter.Value)] = [
            ("general.architecture", .string("controlvector")),
            ("controlvector.model_hint", .string(modelHint)),
            ("controlvector.layer_count", .uint32(UInt32(layerCount)))
        ]
        for key in vectors.metadata.keys.sorted() where key.hasPrefix("persona.") {
            metadata.append((key, .string(vectors.metadata[key] ?? "")))
        }
        return (try GGUFWriter.encode(metadata: metadata, tensors: tensors), warnings)
    }

    /// Writes a control-vector GGUF atomically; returns the warnings.
    @discardableResult
    public static func write(
        _ vectors: TraitVectors, modelHint: String, layer: Int? = nil, to url: URL,
        path: String = "<vectors>"
    ) throws -> [String] {
        let (data, warnings) = try encode(vectors, modelHint: modelHint, layer: layer, path: path)
        try data.write(to: url, options: .atomic)
        return warnings
    }

    /// Reads a control-vector GGUF back as trait vectors: row L = `direction.L`, rows without a
    /// tensor (always row 0) are zero. Metadata keeps the string keys.
    public static func read(path: String) throws -> TraitVectors {
        let file = try GGUFFile(path: path)
        guard file.architecture == "controlvector" else {
            throw VectorExportError.notAControlVector(path: path, reason: "general.architecture is \(file.architecture ?? "missing")")
        }
        var byLayer: [Int: [Float]] = [:]
        var width = -1
        for t in file.tensors {
            guard t.name.hasPrefix("direction."), let l = Int(t.name.dropFirst("direction.".count)), l >= 1 else {
                throw VectorExportError.notAControlVector(path: path, reason: "tensor \"\(t.name)\" is not direction.N with N ≥ 1")
            }
            guard t.type == .f32, t.dimensions.count == 1 else {
                throw VectorExportError.notAControlVector(
                    path: path, reason: "tensor \"\(t.name)\" is \(t.type.name) with \(t.dimensions.count) dimensions, not 1-D F32")
            }
            if width < 0 { width = t.dimensions[0] }
            guard t.dimensions[0] == width else {
                throw VectorExportError.notAControlVector(path: path, reason: "tensor \"\(t.name)\" has width \(t.dimensions[0]), others \(width)")
            }
            let raw = file.data(of: t)
            byLayer[l] = (0..<width).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        }
        guard let top = byLayer.keys.max(), width > 0 else { throw VectorExportError.notAControlVector(path: path, reason: "no direction tensors") }
        // Missing rows become zeros: bound what a sparse file can make us allocate.
        guard top <= 4096, (top + 1).multipliedReportingOverflow(by: width).partialValue <= 1 << 28 else {
            throw VectorExportError.notAControlVector(path: path, reason: "direction.\(top) × width \(width) is too large")
        }
        var metadata: [String: String] = [:]
        for key in file.metadataKeys { if let s = file.metadata[key]?.string { metadata[key] = s } }
        let rows = (0...top).map { byLayer[$0] ?? [Float](repeating: 0, count: width) }
        return TraitVectors(rows: rows, metadata: metadata)
    }
}

/// Reading any vector file we know, by extension.
public enum VectorFiles {
    public enum Kind: String { case safetensors, torch, controlVector = "llama.cpp control vector" }

    public static func kind(of path: String) throws -> Kind {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "safetensors": return .safetensors
        case "pt", "pth": return .torch
        case "gguf": return .controlVector
        default: throw VectorExportError.unknownFormat(path: path)
        }
    }

    /// Reads `path` as trait vectors (a `.pt` drops row 0; `trait` overrides the trait name).
    public static func read(path: String, trait: String? = nil) throws -> TraitVectors {
        var vectors: TraitVectors
        switch try kind(of: path) {
        case .safetensors: vectors = try TraitVectors.read(path: path)
        case .torch: vectors = try TorchVectorFile.readVectors(path: path, trait: trait)
        case .controlVector: vectors = try ControlVectorGGUF.read(path: path)
        }
        if let trait { vectors.metadata["persona.trait"] = trait }
        return vectors
    }
}

/// What `persona vectors show` prints.
public struct VectorSummary: Codable, Equatable {
    public var path: String
    public var format: String
    /// [layers, hidden] or [hidden].
    public var shape: [Int]
    public var metadata: [String: String]
    /// ‖row L‖ for every row.
    public var norms: [Double]

    public init(path: String, vectors: TraitVectors, format: String) {
        self.path = path
        self.format = format
        self.shape = vectors.isSingle ? [vectors.hiddenSize] : [vectors.rows.count, vectors.hiddenSize]
        self.metadata = vectors.metadata
        self.norms = vectors.rows.map { row in row.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }
    }

    public static func load(path: String) throws -> VectorSummary {
        let kind = try VectorFiles.kind(of: path)
        return VectorSummary(path: path, vectors: try VectorFiles.read(path: path), format: kind.rawValue)
    }
}
