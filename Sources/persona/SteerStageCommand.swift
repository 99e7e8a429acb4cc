// `persona stage steer --run DIR`: Steer the evaluation answers at each coefficient (and swept layer) and judge them.
import ArgumentParser
import Foundation
import PersonaCore

struct SteerStageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "steer", abstract: "Steer the evaluation answers at each coefficient (and swept layer) and judge them.")

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run() throws {
        let context = try PipelineContext.open(run: runOptions, options: options, needsJudge: true)
        let p = context.pipeline
        for pack in context.packs {
            let o = try p.steer(pack)
            for r in o.points + o.sweep {
                print("\(pack.name) layer \(r.layer) coeff \(r.coefficient): trait \(format(r.meanTrait)), coherence \(format(r.meanCoherence))")
            }
            if let b = o.bestLayer { print("\(pack.name): best layer \(b)") }
        }
        context.logReports()
    }
}
