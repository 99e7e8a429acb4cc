// A model on disk: a GGUF file or a Hugging Face folder. Opening one reads and checks its header
// and configuration; weights stay memory-mapped until the engine asks for them.
import Foundation

/// An opened model file or folder.
public enum ModelSource: @unchecked Sendable {
    case gguf(GGUFFile)
    case huggingFace(HFModelFolder)

    /// Opens `path`: a directory is read as a Hugging Face folder, a file must be GGUF.
    public static func open(path: String) throws -> ModelSource {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FileError.cannotOpen(path: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue { return .huggingFace(try HFModelFolder(url: URL(fileURLWithPath: path))) }
        if path.hasSuffix(".safetensors") {
            throw SafetensorsError.notAModelFolder(path: path, reason: "a lone .safetensors file has no config.json; give the model folder instead")
        }
        return .gguf(try GGUFFile(path: path))
    }

    public var path: String {
        switch self {
        case .gguf(let f): return f.path
        case .huggingFace(let h): return h.url.path
        }
    }

    public func config() throws -> ModelConfig {
        switch self {
        case .gguf(let f): return try ModelConfig(gguf: f)
        case .huggingFace(let h): return h.config
        }
    }

    /// The model's own chat template, if it carries one.
    public var chatTemplate: String? {
        switch self {
        case .gguf(let f): return f.string("tokenizer.chat_template")
        case .huggingFace(let h): return h.chatTemplate
        }
    }

    /// Every tensor: name, element type name, row-major shape, bytes.
    public var tensorSummaries: [TensorSummary] {
        switch self {
        case .gguf(let f):
            return f.tensors.map { TensorSummary(name: $0.name, type: $0.type.name, shape: $0.shape, elementCount: $0.elementCount, byteCount: $0.byteCount) }
        case .huggingFace(let h):
            return h.tensors.map { TensorSummary(name: $0.name, type: $0.dtype, shape: $0.shape, elementCount: $0.elementCount, byteCount: $0.byteCount) }
        }
    }
}

/// One tensor as `persona inspect --tensors` shows it.
public struct TensorSummary: Codable, Equatable, Sendable {
    public let name: String
    public let type: String
    public let shape: [Int]
    public let elementCount: Int
    public let byteCount: Int
}
