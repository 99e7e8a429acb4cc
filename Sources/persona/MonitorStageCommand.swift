// `persona stage monitor --run DIR`: Project baseline, prompted and steered answers on the vector; correlate last-prompt-token projections with trait scores.
import ArgumentParser
import Foundation
import PersonaCore

struct MonitorStageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "monitor", abstract: "Project baseline, prompted and steered answers on the vector; correlate last-prompt-token projections with trait scores.")

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run() throws {
        let context = try PipelineContext.open(run: runOptions, options: options, needsJudge: true)
        let p = context.pipeline
        for pack in context.packs {
            let o = try p.monitor(pack)
            for (c, v) in o.projections.sorted(by: { $0.key < $1.key }) {
                print("\(pack.name) \(c): mean projection \(format(v.reduce(0, +) / Double(max(v.count, 1)), digits: 3)) (n=\(v.count))")
            }
            print("\(pack.name): prompt-last projection vs trait score correlation \(format(o.promptLastCorrelation, digits: 3))")
        }
        context.logReports()
    }
}
