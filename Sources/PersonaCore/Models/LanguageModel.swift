// A loaded chat model: weights (transformer), tokenizer, chat template and a fingerprint. The one
// object the CLI, the pipeline and the server hold; everything else borrows from it.
import Crypto
import Foundation
import PersonaModel

public enum LanguageModelError: Error, CustomStringConvertible, Equatable {
    case noChatTemplate(path: String)
    case noTokenizer(path: String)

    public var description: String {
        switch self {
        case let .noChatTemplate(path): return "\(path) carries no chat template (tokenizer.chat_template); use a raw prompt instead of --chat"
        case let .noTokenizer(path): return "\(path): no tokenizer (a Hugging Face folder needs tokenizer.json)"
        }
    }
}

/// A model ready to run.
public final class LanguageModel: @unchecked Sendable {
    public let source: ModelSource
    public let config: ModelConfig
    public let transformer: Transformer
    public let tokenizer: BPETokenizer
    public let chatTemplate: ChatTemplate?
    /// Identifies the model file: name, size and a hash of its header (see `ModelFingerprint`).
    public let fingerprint: String
    public let displayName: String

    /// Loads MODEL (a path or a default model name).
    public convenience init(_ argument: String) throws {
        try self.init(source: ModelLocator.open(argument))
    }

    public init(source: ModelSource) throws {
        self.source = source
        self.config = try source.config()
        switch source {
        case .gguf(let file):
            tokenizer = try BPETokenizer(gguf: file)
            displayName = URL(fileURLWithPath: file.path).deletingPathExtension().lastPathComponent
        case .huggingFace(let folder):
            guard let url = folder.tokenizerURL else { throw LanguageModelError.noTokenizer(path: folder.url.path) }
            tokenizer = try BPETokenizer(tokenizerJSON: url, bosToken: nil, eosToken: nil)
            displayName = folder.url.lastPathComponent
        }
        chatTemplate = try source.chatTemplate.map { try ChatTemplate(source: $0) }
        transformer = try Transformer(config: config, weights: TransformerWeights.load(from: source, config: config))
        fingerprint = ModelFingerprint.of(source)
    }

    /// The tokens that end an assistant turn.
    public var stopTokens: Set<Int> { tokenizer.endTokenIDs }

    /// The prompt text for a conversation, through the model's own template.
    public func renderChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        guard let template = chatTemplate else { throw LanguageModelError.noChatTemplate(path: source.path) }
        let bos = tokenizer.bosTokenID.flatMap { tokenizer.tokenBytes($0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let eos = tokenizer.eosTokenID.flatMap { tokenizer.tokenBytes($0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
        return try template.render(messages: messages, addGenerationPrompt: addGenerationPrompt, bosToken: bos, eosToken: eos)
    }

    /// Prompt token ids for a system prompt (optional) and a user message.
    public func chatPrompt(user: String, system: String? = nil) throws -> [Int] {
        var messages: [ChatMessage] = []
        if let system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: user))
        return tokenizer.encode(try renderChat(messages))
    }

    /// A generator over this model with text decoding.
    public func makeGenerator(maxBatchSize: Int = 32) -> Generator {
        let tokenizer = self.tokenizer
        return Generator(model: transformer, decode: { tokenizer.decode($0, skipSpecialTokens: true) }, maxBatchSize: maxBatchSize)
    }
}

/// A cheap, stable identity of a model file: the SHA-256 of its first MiB and its size (hashing a
/// multi-gigabyte file on every start would be slow; the header holds every tensor's name, type,
/// shape and offset, so two different models practically never share it).
public enum ModelFingerprint {
    public static func of(_ source: ModelSource) -> String {
        switch source {
        case .gguf(let f):
            let head = (try? FileHandle(forReadingFrom: URL(fileURLWithPath: f.path)).read(upToCount: 1 << 20)) ?? Data()
            return "gguf:\(f.fileSize):" + SHA256.hex(head ?? Data()).prefix(16)
        case .huggingFace(let h):
            let names = h.tensors.map { "\($0.name):\($0.dtype):\($0.shape)" }.joined(separator: ";")
            return "hf:" + SHA256.hex(Data(names.utf8)).prefix(16)
        }
    }
}
