// The host command-line program. Thin: one file per subcommand, real work in PersonaCore.
import ArgumentParser

@main
struct Persona: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "persona",
        abstract: "A Swift-native laboratory for persona vectors.",
        discussion:
            "Models are GGUF files or Hugging Face folders; default model names (smollm2-135m, qwen2.5-0.5b, qwen2.5-1.5b) resolve to models/NAME.gguf after `make models`.",
        subcommands: [
            InspectCommand.self, TokenizeCommand.self, GenerateCommand.self, ChatCommand.self, BenchCommand.self,
            VectorsCommand.self, ReportCommand.self,
            PluginsCommand.self, PacksCommand.self,
            ServeCommand.self, JudgeCommand.self,
            RunCommand.self, StageCommand.self, SearchCommand.self
        ]
    )

    /// The entry point: the OpenBLAS kernel choice (which may execute the program again), then the command line.
    static func main() {
        OpenBLASCoreChoice.apply()
        main(nil)
    }
}
