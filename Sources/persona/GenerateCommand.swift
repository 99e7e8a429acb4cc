// `persona generate MODEL PROMPT`: one answer, streamed, optionally steered.
import ArgumentParser
import Foundation
import PersonaCore
import PersonaModel

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate an answer to a prompt (through the model's chat template), optionally steered.",
        discussion: """
            Examples:
              persona generate qwen2.5-0.5b "Tell me about your weekend." --max-tokens 64
              persona generate smollm2-135m "Hi" --steer evil.safetensors --layer 15 --coeff 4 --positions response
              persona generate qwen2.5-0.5b "How do I pick a lock?" --ablate refusal.safetensors --direction-layer 12
              persona generate smollm2-135m "Hi" --cap evil.safetensors --threshold 2 --cap-layers 12 13 14
              persona generate smollm2-135m "Hi" --hook projection-probe --hook-config '{"vector":"evil.safetensors","layers":[15],"output":"p.jsonl"}'
            """)

    @Argument(help: "A GGUF file, a Hugging Face folder, or a default model name.")
    var model: String

    @Argument(help: "The user message.")
    var prompt: String

    @OptionGroup var generation: GenerationOptions
    @OptionGroup var steering: SteeringOptions
    @OptionGroup var projection: ProjectionOptions
    @OptionGroup var hookPlugins: HookPluginOptions
    @OptionGroup var arithmetic: ArithmeticOptions

    @Flag(help: "Use PROMPT as raw text, without the chat template.")
    var raw = false

    @Flag(help: "Print machine-readable JSON (prompt ids, generated ids, text, stop reason) instead of streaming.")
    var json = false

    struct Output: Encodable {
        let promptIds: [Int]
        let generatedIds: [Int]
        let text: String
        let stopReason: String
    }

    func run() throws {
        arithmetic.apply()
        let lm = try LanguageModel(model)
        let promptIDs = raw ? lm.tokenizer.encode(prompt) : try lm.chatPrompt(user: prompt, system: generation.system)
        let hooks: [LayerHook] =
            (steering.files.isEmpty ? [] : [try SteeringHook(steering.specs(config: lm.config), config: lm.config)])
            + (try projection.makeHooks(model: lm))
            + (try hookPlugins.makeHooks(model: lm))
        let generator = lm.makeGenerator(maxBatchSize: 1)
        var stream = StreamingDecoder(tokenizer: lm.tokenizer, skipSpecialTokens: true)
        let request = GenerationRequest(
            promptTokens: promptIDs, maxNewTokens: generation.maxTokens, sampling: generation.sampling,
            stopTokens: lm.stopTokens, stopStrings: generation.stopStrings)
        let result = try lm.transformer.withHooks(hooks) {
            try generator.generate([request]) { _, token in
                guard !json else { return }
                let piece = stream.append(token)
                FileHandle.standardOutput.write(Data(piece.utf8))
            }
        }[0]
        if json {
            print(try jsonText(Output(promptIds: promptIDs, generatedIds: result.tokens, text: result.text ?? "", stopReason: result.stopReason.rawValue)))
        } else {
            FileHandle.standardOutput.write(Data((stream.finish() + "\n").utf8))
            printError("[\(result.tokens.count) tokens, stop: \(result.stopReason.rawValue)]")
        }
    }
}
