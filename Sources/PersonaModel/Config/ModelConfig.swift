// The hyper-parameters of a decoder-only chat model, independent of the file format.
// The mapping from each format's key names to these fields lives in one place per format:
// `ModelConfig(gguf:)` below and `ModelConfig(huggingFace:)` in HFConfig.swift.

/// Architecture hyper-parameters the engine needs.
public struct ModelConfig: Equatable, Sendable, Codable {
    /// `llama` or `qwen2` (others are read but refused by the transformer).
    public var architecture: String
    public var layerCount: Int
    public var hiddenSize: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDimension: Int
    public var feedForwardSize: Int
    public var vocabularySize: Int
    public var contextLength: Int
    public var ropeTheta: Double
    public var normEpsilon: Double
    /// The output projection reuses the token embedding matrix.
    public var tiedEmbeddings: Bool
    /// Q/K/V projections carry biases (Qwen2).
    public var attentionBias: Bool

    public init(
        architecture: String, layerCount: Int, hiddenSize: Int, headCount: Int, kvHeadCount: Int,
        headDimension: Int, feedForwardSize: Int, vocabularySize: Int, contextLength: Int,
        ropeTheta: Double, normEpsilon: Double, tiedEmbeddings: Bool, attentionBias: Bool
    ) {
        self.architecture = architecture; self.layerCount = layerCount; self.hiddenSize = hiddenSize
        self.headCount = headCount; self.kvHeadCount = kvHeadCount; self.headDimension = headDimension
        self.feedForwardSize = feedForwardSize; self.vocabularySize = vocabularySize
        self.contextLength = contextLength; self.ropeTheta = ropeTheta; self.normEpsilon = normEpsilon
        self.tiedEmbeddings = tiedEmbeddings; self.attentionBias = attentionBias
    }

    /// Checks the figures are usable together; the error names the field and value.
    public func validate(source: String) throws {
        func check(_ ok: Bool, _ field: String, _ value: Any, _ why: String) throws {
            if !ok { throw ModelConfigError.invalid(source: source, field: field, value: "\(value)", reason: why) }
        }
        try check(layerCount > 0 && layerCount <= 1024, "layerCount", layerCount, "expected 1…1024")
        try check(hiddenSize > 0 && hiddenSize <= 1 << 16, "hiddenSize", hiddenSize, "expected 1…65536")
        try check(headCount > 0 && headCount <= 1024, "headCount", headCount, "expected 1…1024")
        try check(kvHeadCount > 0 && headCount % kvHeadCount == 0, "kvHeadCount", kvHeadCount, "must divide headCount \(headCount)")
        try check(headDimension > 0 && headDimension <= 1024 && headDimension % 2 == 0, "headDimension", headDimension, "expected an even number ≤ 1024")
        try check(feedForwardSize > 0 && feedForwardSize <= 1 << 20, "feedForwardSize", feedForwardSize, "expected 1…2^20")
        try check(vocabularySize > 0 && vocabularySize <= 1 << 22, "vocabularySize", vocabularySize, "expected 1…2^22")
        try check(contextLength > 0, "contextLength", contextLength, "must be positive")
        try check(ropeTheta > 0 && ropeTheta.isFinite, "ropeTheta", ropeTheta, "must be positive")
        try check(normEpsilon > 0 && normEpsilon < 1, "normEpsilon", normEpsilon, "expected 0 < ε < 1")
    }
}

/// Errors about model configurations.
public enum ModelConfigError: Error, CustomStringConvertible, Equatable {
    case missing(source: String, field: String)
    case invalid(source: String, field: String, value: String, reason: String)

    public var description: String {
        switch self {
        case let .missing(source, field): return "\(source): missing \(field)"
        case let .invalid(source, field, value, reason): return "\(source): \(field) = \(value): \(reason)"
        }
    }
}

extension ModelConfig {
    /// Reads the configuration from GGUF metadata (`{arch}.block_count`, …).
    public init(gguf file: GGUFFile) throws {
        let arch = try file.requiredString("general.architecture")
        let layers = try file.requiredInt("\(arch).block_count")
        let hidden = try file.requiredInt("\(arch).embedding_length")
        let heads = try file.requiredInt("\(arch).attention.head_count")
        let kvHeads = file.int("\(arch).attention.head_count_kv") ?? heads
        let headDim = file.int("\(arch).attention.key_length") ?? (heads > 0 ? hidden / heads : 0)
        let ffn = try file.requiredInt("\(arch).feed_forward_length")
        var vocab = file.int("\(arch).vocab_size") ?? file.stringArray("tokenizer.ggml.tokens")?.count
        if vocab == nil, let embedding = file.tensor(named: "token_embd.weight"), embedding.dimensions.count == 2 {
            vocab = embedding.dimensions[1]
        }
        guard let vocabularySize = vocab else { throw GGUFError.missingKey(path: file.path, key: "\(arch).vocab_size") }
        self.init(
            architecture: arch, layerCount: layers, hiddenSize: hidden, headCount: heads, kvHeadCount: kvHeads,
            headDimension: headDim, feedForwardSize: ffn, vocabularySize: vocabularySize,
            contextLength: file.int("\(arch).context_length") ?? 2048,
            ropeTheta: file.double("\(arch).rope.freq_base") ?? 10000,
            normEpsilon: try file.requiredDouble("\(arch).attention.layer_norm_rms_epsilon"),
            tiedEmbeddings: file.tensor(named: "output.weight") == nil,
            attentionBias: file.tensor(named: "blk.0.attn_q.bias") != nil)
        try validate(source: file.path)
    }
}
