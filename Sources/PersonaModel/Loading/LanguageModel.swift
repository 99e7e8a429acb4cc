// A loaded chat model: weights (transformer), tokenizer, chat template and a fingerprint. The one
// object the CLI, the pipeline and the server hold; everything else borrows from it.
import Crypto
import Foundation

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

    /// What identifies the model's results: the weights' fingerprint, followed by " arithmetic=fast"
    /// when its linear layers compute in integers (DESIGN.md, "Arithmetic: exact and fast"). Cache
    /// keys of anything computed with the model use it, so results of one arithmetic are never
    /// reused for the other; the exact arithmetic adds nothing, so results stored before the fast
    /// path existed keep their keys.
    public var computeIdentity: String {
        transformer.computesInIntegers ? fingerprint + " arithmetic=fast" : fingerprint
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

    /// The text of generated tokens, special tokens skipped: the response text of every generation.
    public var responseDecoder: ([Int]) -> String {
        let tokenizer = self.tokenizer
        return { tokenizer.decode($0, skipSpecialTokens: true) }
    }

    /// A generator over this model with text decoding.
    public func makeGenerator(maxBatchSize: Int = 32) -> Generator {
        Generator(model: transformer, decode: responseDecoder, maxBatchSize: maxBatchSize)
    }

    /// A step-wise batch over this model with the same text decoding (the server's engine drives one).
    public func makeGenerationBatch() -> GenerationBatch {
        GenerationBatch(model: transformer, decode: responseDecoder)
    }
}

/// What identifies a model's weights by their content (cache keys, the judge's identity, the
/// server's same-weights check): SHA-256 of the file's header and tensor table (GGUF; tensor
/// names, types and shapes for a Hugging Face folder) and of every tensor's data sampled at fixed
/// strides — its first and last `sampleBytes` and `sampleBytes` at every `sampleStride` — so two
/// fine-tunes of one architecture differ even though their headers match byte for byte. A full
/// hash would read every byte on every start (BENCHMARKS.md has both costs at 1.5B). A change to
/// every weight, as any fine-tune makes, cannot escape the samples; an edit confined to a few KiB
/// between two sample points can (8 KiB changed 3 MiB into smollm2-135m's data kept the value).
public enum ModelFingerprint {
    /// Bytes hashed at each sample point.
    public static let sampleBytes = 4096
    /// Distance between sample points inside one tensor's data.
    public static let sampleStride = 256 * 1024

    public static func of(_ source: ModelSource) -> String {
        var hasher = Crypto.SHA256()
        switch source {
        case .gguf(let f):
            hasher.update(bufferPointer: f.headerBytes)
            for tensor in f.tensors { sample(f.data(of: tensor), into: &hasher) }
            return "gguf-content:\(f.fileSize):" + hex(hasher.finalize()).prefix(32)
        case .huggingFace(let h):
            let names = h.tensors.map { "\($0.name):\($0.dtype):\($0.shape)" }.joined(separator: ";")
            hasher.update(data: Data(names.utf8))
            for tensor in h.tensors {
                // A tensor that cannot be read is named in the hash instead (loading it fails later anyway).
                if let bytes = try? h.data(of: tensor.name).bytes {
                    sample(bytes, into: &hasher)
                } else {
                    hasher.update(data: Data("unreadable:\(tensor.name)".utf8))
                }
            }
            return "hf-content:" + hex(hasher.finalize()).prefix(32)
        }
    }

    /// Hashes the sample points of one tensor's data, and its length.
    static func sample(_ data: UnsafeRawBufferPointer, into hasher: inout Crypto.SHA256) {
        var length = UInt64(data.count).littleEndian
        withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
        var offset = 0
        while offset < data.count {
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: data[offset..<min(offset + sampleBytes, data.count)]))
            offset += sampleStride
        }
        if data.count > sampleBytes {
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: data[(data.count - sampleBytes)...]))
        }
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 { digest.map { String(format: "%02x", $0) }.joined() }
}
