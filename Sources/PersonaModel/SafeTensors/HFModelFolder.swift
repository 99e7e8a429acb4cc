// A Hugging Face model folder: config.json, tokenizer.json, and the weights as one
// `model.safetensors` or shards listed in `model.safetensors.index.json` ({"weight_map": {tensor: file}}).
// Shard names come from the folder's own index and are refused unless they are plain file names.
import Foundation

/// A model stored as a Hugging Face folder.
public final class HFModelFolder: @unchecked Sendable {
    public let url: URL
    public let config: ModelConfig
    /// The path of tokenizer.json when present.
    public let tokenizerURL: URL?
    /// The chat template from tokenizer_config.json, when present.
    public let chatTemplate: String?
    public let shards: [SafetensorsFile]
    private let location: [String: (shard: Int, info: SafetensorsTensorInfo)]

    public init(url: URL) throws {
        self.url = url
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SafetensorsError.notAModelFolder(path: url.path, reason: "not a directory")
        }
        let configURL = url.appendingPathComponent("config.json")
        guard fm.fileExists(atPath: configURL.path) else {
            throw SafetensorsError.notAModelFolder(path: url.path, reason: "config.json is missing")
        }
        self.config = try ModelConfig(huggingFaceConfig: configURL)
        let tokenizer = url.appendingPathComponent("tokenizer.json")
        self.tokenizerURL = fm.fileExists(atPath: tokenizer.path) ? tokenizer : nil
        self.chatTemplate = HFModelFolder.readChatTemplate(url.appendingPathComponent("tokenizer_config.json"))

        // Which files hold the weights.
        var shardNames: [String]
        let indexURL = url.appendingPathComponent("model.safetensors.index.json")
        if fm.fileExists(atPath: indexURL.path) {
            shardNames = try HFModelFolder.readIndex(indexURL)
        } else if fm.fileExists(atPath: url.appendingPathComponent("model.safetensors").path) {
            shardNames = ["model.safetensors"]
        } else {
            shardNames = ((try? fm.contentsOfDirectory(atPath: url.path)) ?? []).filter { $0.hasSuffix(".safetensors") }.sorted()
        }
        guard !shardNames.isEmpty else {
            throw SafetensorsError.notAModelFolder(path: url.path, reason: "no *.safetensors weights")
        }
        var shards: [SafetensorsFile] = []
        var location: [String: (Int, SafetensorsTensorInfo)] = [:]
        for name in shardNames {
            let file = try SafetensorsFile(path: url.appendingPathComponent(name).path)
            for t in file.tensors {
                guard location[t.name] == nil else { throw SafetensorsError.duplicateTensor(path: url.path, name: t.name) }
                location[t.name] = (shards.count, t)
            }
            shards.append(file)
        }
        self.shards = shards
        self.location = location
    }

    /// Shard file names from an index, each checked to be a plain name inside the folder.
    static func readIndex(_ indexURL: URL) throws -> [String] {
        let path = indexURL.path
        guard let data = try? Data(contentsOf: indexURL) else { throw FileError.cannotOpen(path: path, reason: "unreadable") }
        guard let object = (try? JSONValue.parse(data))?.object else {
            throw SafetensorsError.badIndex(path: path, reason: "not a JSON object")
        }
        guard let map = object["weight_map"]?.object else {
            throw SafetensorsError.badIndex(path: path, reason: "weight_map is missing or not an object")
        }
        var names = Set<String>()
        for (tensor, value) in map {
            guard let file = value.string else {
                throw SafetensorsError.badIndex(path: path, reason: "weight_map[\"\(tensor)\"] is not a string")
            }
            guard !file.isEmpty, !file.contains("/"), !file.contains("\\"), file != ".", file != "..", !file.hasPrefix(".") else {
                throw SafetensorsError.unsafeShardName(path: path, name: file)
            }
            names.insert(file)
        }
        return names.sorted()
    }

    static func readChatTemplate(_ url: URL) -> String? {
        guard let data = try? Data(contentsOf: url), let object = (try? JSONValue.parse(data))?.object else { return nil }
        if let s = object["chat_template"]?.string { return s }
        // Newer files may hold a list of named templates; take "default".
        if let list = object["chat_template"]?.array {
            return list.first { $0.object?["name"]?.string == "default" }?.object?["template"]?.string
        }
        return nil
    }

    /// Every tensor, sorted by name.
    public var tensors: [SafetensorsTensorInfo] { location.values.map { $0.1 }.sorted { $0.name < $1.name } }

    public func tensor(named name: String) -> SafetensorsTensorInfo? { location[name]?.1 }

    /// A tensor's raw bytes.
    public func data(of name: String) throws -> (info: SafetensorsTensorInfo, bytes: UnsafeRawBufferPointer) {
        guard let (shard, info) = location[name] else { throw SafetensorsError.missingTensor(path: url.path, name: name) }
        return (info, shards[shard].data(of: info))
    }
}
