// `persona stage extract --run DIR`: Compute the trait vectors (response_avg, prompt_avg, prompt_last) and write them as safetensors.
import ArgumentParser
import Foundation
import PersonaCore

struct ExtractStageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "extract", abstract: "Compute the trait vectors (response_avg, prompt_avg, prompt_last) and write them as safetensors.")

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run() throws {
        let context = try PipelineContext.open(run: runOptions, options: options, needsJudge: false)
        let p = context.pipeline
        for pack in context.packs {
            try p.extract(pack)
            for m in VectorMethod.allCases { print(p.vectorFilePath(trait: pack.name, method: m)) }
        }
        context.logReports()
    }
}
