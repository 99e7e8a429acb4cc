// `persona chat MODEL`: an interactive conversation, optionally steered.
import ArgumentParser
import Foundation
import PersonaCore
import PersonaModel

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model interactively (end with an empty line or end of input; /reset forgets the conversation).")

    @Argument(help: "A GGUF file, a Hugging Face folder, or a default model name.")
    var model: String

    @OptionGroup var generation: GenerationOptions
    @OptionGroup var steering: SteeringOptions
    @OptionGroup var projection: ProjectionOptions
    @OptionGroup var arithmetic: ArithmeticOptions

    func run() throws {
        arithmetic.apply()
        let lm = try LanguageModel(model)
        let hooks: [LayerHook] =
            (steering.files.isEmpty ? [] : [try SteeringHook(steering.specs(config: lm.config), config: lm.config)])
            + (try projection.makeHooks(model: lm))
        let generator = lm.makeGenerator(maxBatchSize: 1)
        var messages: [ChatMessage] = generation.system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        printError("chatting with \(lm.displayName); an empty line ends the chat, /reset starts over")
        var turn: UInt64 = 0
        while true {
            FileHandle.standardOutput.write(Data("> ".utf8))
            guard let line = readLine(), !line.isEmpty else { break }
            if line == "/reset" {
                messages = generation.system.map { [ChatMessage(role: "system", content: $0)] } ?? []
                continue
            }
            messages.append(ChatMessage(role: "user", content: line))
            let prompt = lm.tokenizer.encode(try lm.renderChat(messages))
            var sampling = generation.sampling
            sampling.seed &+= turn
            turn += 1
            var stream = StreamingDecoder(tokenizer: lm.tokenizer, skipSpecialTokens: true)
            let request = GenerationRequest(
                promptTokens: prompt, maxNewTokens: generation.maxTokens, sampling: sampling,
                stopTokens: lm.stopTokens, stopStrings: generation.stopStrings)
            let result = try lm.transformer.withHooks(hooks) {
                try generator.generate([request]) { _, token in FileHandle.standardOutput.write(Data(stream.append(token).utf8)) }
            }[0]
            FileHandle.standardOutput.write(Data((stream.finish() + "\n").utf8))
            messages.append(ChatMessage(role: "assistant", content: result.text ?? ""))
        }
    }
}
