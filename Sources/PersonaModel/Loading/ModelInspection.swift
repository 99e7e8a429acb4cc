// What `persona inspect` reports about a model: its configuration, quantization mix and size.

/// A model's figures, ready to print or encode as JSON.
public struct ModelInspection: Codable, Sendable {
    public struct TypeUsage: Codable, Equatable, Sendable {
        public let type: String
        public let tensorCount: Int
        public let byteCount: Int
    }

    public let path: String
    public let format: String
    public let config: ModelConfig
    public let quantization: [TypeUsage]
    public let parameterCount: Int
    public let tensorBytes: Int
    public let hasChatTemplate: Bool
    /// What identifies the weights by content (ModelFingerprint): the value cache keys, the
    /// judge's identity and `persona serve`'s same-weights check use.
    public let fingerprint: String
    /// GGUF only: file version and the tokenizer's pre-tokenizer name.
    public let ggufVersion: Int?
    public let tokenizerModel: String?
    public let tokenizerPre: String?
    public let tensors: [TensorSummary]?

    public init(source: ModelSource, includeTensors: Bool) throws {
        let summaries = source.tensorSummaries
        self.path = source.path
        self.config = try source.config()
        var usage: [String: (Int, Int)] = [:]
        for t in summaries {
            let current = usage[t.type] ?? (0, 0)
            usage[t.type] = (current.0 + 1, current.1 + t.byteCount)
        }
        self.quantization = usage.map { TypeUsage(type: $0.key, tensorCount: $0.value.0, byteCount: $0.value.1) }
            .sorted { $0.byteCount > $1.byteCount }
        self.parameterCount = summaries.reduce(0) { $0 + $1.elementCount }
        self.tensorBytes = summaries.reduce(0) { $0 + $1.byteCount }
        self.hasChatTemplate = source.chatTemplate != nil
        self.fingerprint = ModelFingerprint.of(source)
        self.tensors = includeTensors ? summaries : nil
        switch source {
        case .gguf(let file):
            self.format = "gguf"
            self.ggufVersion = Int(file.version)
            self.tokenizerModel = file.string("tokenizer.ggml.model")
            self.tokenizerPre = file.string("tokenizer.ggml.pre")
        case .huggingFace:
            self.format = "huggingface"
            self.ggufVersion = nil
            self.tokenizerModel = nil
            self.tokenizerPre = nil
        }
    }
}
