// `persona tokenize MODEL TEXT`: the token ids and pieces the model sees.
import ArgumentParser
import Foundation
import PersonaCore
import PersonaModel

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Show the token ids and pieces of a text.",
        discussion: "With --chat, TEXT is rendered as a user message through the model's own chat template first (with the generation prompt).")

    @Argument(help: "A GGUF file, a Hugging Face folder, or a default model name.")
    var model: String

    @Argument(help: "The text.")
    var text: String

    @Flag(help: "Render TEXT as a user message through the model's chat template.")
    var chat = false

    @Option(help: "With --chat: a system message.")
    var system: String?

    @Flag(help: "Print machine-readable JSON.")
    var json = false

    struct Output: Encodable {
        let text: String
        let ids: [Int]
        let pieces: [String]
    }

    func run() throws {
        let source = try ModelLocator.open(model)
        let tokenizer: BPETokenizer
        switch source {
        case .gguf(let f): tokenizer = try BPETokenizer(gguf: f)
        case .huggingFace(let h):
            guard let url = h.tokenizerURL else { throw LanguageModelError.noTokenizer(path: h.url.path) }
            tokenizer = try BPETokenizer(tokenizerJSON: url)
        }
        var rendered = text
        if chat {
            guard let templateSource = source.chatTemplate else { throw LanguageModelError.noChatTemplate(path: source.path) }
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: system)) }
            messages.append(ChatMessage(role: "user", content: text))
            let bos = tokenizer.bosTokenID.flatMap { tokenizer.tokenBytes($0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
            let eos = tokenizer.eosTokenID.flatMap { tokenizer.tokenBytes($0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
            rendered = try ChatTemplate(source: templateSource).render(messages: messages, addGenerationPrompt: true, bosToken: bos, eosToken: eos)
        }
        let ids = tokenizer.encode(rendered)
        let pieces = ids.map { tokenizer.decode([$0]) }
        if json {
            print(try jsonText(Output(text: rendered, ids: ids, pieces: pieces)))
            return
        }
        print("\(ids.count) tokens")
        for (id, piece) in zip(ids, pieces) {
            print(String(format: "%8d  ", id) + piece.debugDescription)
        }
    }
}
