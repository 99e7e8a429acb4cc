// `persona stage generate --run DIR`: Generate the contrastive extraction answers (with activations).
import ArgumentParser
import Foundation
import PersonaCore

struct GenerateStageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Generate the contrastive extraction answers (with activations).")

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run() throws {
        let context = try PipelineContext.open(run: runOptions, options: options, needsJudge: false)
        let p = context.pipeline
        for pack in context.packs {
            try p.generate(pack)
        }
        context.logReports()
    }
}
