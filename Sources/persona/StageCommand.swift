// `persona stage STAGE --run DIR …`: one pipeline stage alone, on a run directory. Each stage
// finds its inputs in the run store and reports what it computed and reused.
import ArgumentParser
import PersonaCore

struct StageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stage",
        abstract: "Run one pipeline stage on a run directory (the others' results come from its store).",
        subcommands: [GenerateStageCommand.self, JudgeStageCommand.self, FilterStageCommand.self, ExtractStageCommand.self,
                      SearchStageCommand.self, SteerStageCommand.self, BehaveStageCommand.self, MonitorStageCommand.self, GeometryStageCommand.self])
}
