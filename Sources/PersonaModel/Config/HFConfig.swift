// Hugging Face `config.json` → ModelConfig (llama and qwen2 key names).
import Foundation

extension ModelConfig {
    /// Reads a Hugging Face `config.json`.
    public init(huggingFaceConfig url: URL) throws {
        let source = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FileError.cannotOpen(path: source, reason: error.localizedDescription)
        }
        guard let json = (try? JSONValue.parse(data))?.object else {
            throw ModelConfigError.invalid(source: source, field: "(document)", value: "", reason: "not a JSON object")
        }
        func int(_ key: String) throws -> Int {
            guard let raw = json[key] else { throw ModelConfigError.missing(source: source, field: key) }
            guard let n = raw.int else {
                throw ModelConfigError.invalid(source: source, field: key, value: raw.summary, reason: "expected an integer")
            }
            return n
        }
        func optionalInt(_ key: String) throws -> Int? { json[key] == nil || json[key] == .null ? nil : try int(key) }
        func double(_ key: String, default value: Double) throws -> Double {
            guard let raw = json[key], raw != .null else { return value }
            guard let n = raw.double else {
                throw ModelConfigError.invalid(source: source, field: key, value: raw.summary, reason: "expected a number")
            }
            return n
        }
        func bool(_ key: String, default value: Bool) throws -> Bool {
            guard let raw = json[key], raw != .null else { return value }
            guard let b = raw.bool else {
                throw ModelConfigError.invalid(source: source, field: key, value: raw.summary, reason: "expected true or false")
            }
            return b
        }
        guard let modelType = json["model_type"]?.string else {
            throw ModelConfigError.missing(source: source, field: "model_type")
        }
        let heads = try int("num_attention_heads")
        let hidden = try int("hidden_size")
        self.init(
            architecture: modelType,
            layerCount: try int("num_hidden_layers"), hiddenSize: hidden, headCount: heads,
            kvHeadCount: try optionalInt("num_key_value_heads") ?? heads,
            headDimension: try optionalInt("head_dim") ?? (heads > 0 ? hidden / heads : 0),
            feedForwardSize: try int("intermediate_size"), vocabularySize: try int("vocab_size"),
            contextLength: try optionalInt("max_position_embeddings") ?? 2048,
            ropeTheta: try double("rope_theta", default: 10000),
            normEpsilon: try double("rms_norm_eps", default: 1e-6),
            tiedEmbeddings: try bool("tie_word_embeddings", default: false),
            attentionBias: try bool("attention_bias", default: modelType == "qwen2"))
        try validate(source: source)
    }
}
