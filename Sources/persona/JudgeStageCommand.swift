// `persona stage judge --run DIR`: Score every extraction answer for the trait and for coherence.
import ArgumentParser
import Foundation
import PersonaCore

struct JudgeStageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "judge", abstract: "Score every extraction answer for the trait and for coherence.")

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run() throws {
        let context = try PipelineContext.open(run: runOptions, options: options, needsJudge: true)
        let p = context.pipeline
        for pack in context.packs {
            try p.judgeAnswers(pack)
        }
        context.logReports()
    }
}
