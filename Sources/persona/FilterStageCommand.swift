// `persona stage filter --run DIR`: Keep the pairs where the prompts changed behaviour; record why the others were dropped.
import ArgumentParser
import Foundation
import PersonaCore

struct FilterStageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "filter", abstract: "Keep the pairs where the prompts changed behaviour; record why the others were dropped.")

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run() throws {
        let context = try PipelineContext.open(run: runOptions, options: options, needsJudge: false)
        let p = context.pipeline
        for pack in context.packs {
            let o = try p.filter(pack)
            print("\(pack.name): kept \(o.kept) of \(o.decisions.count) pairs")
            for (reason, n) in o.dropReasons.sorted(by: { $0.key < $1.key }) { print("  dropped \(n): \(reason)") }
            if let q = o.judgeQuality {
                print(String(format: "  judge: AUC %@ on %d positive / %d negative answers, mean trait %@ vs %@ (gap %@), mean coherence %@",
                             q.auc.map { String(format: "%.3f", $0) } ?? "-", q.positiveCount, q.negativeCount,
                             q.positiveMean.map { String(format: "%.1f", $0) } ?? "-", q.negativeMean.map { String(format: "%.1f", $0) } ?? "-",
                             q.meanGap.map { String(format: "%+.1f", $0) } ?? "-", q.coherenceMean.map { String(format: "%.1f", $0) } ?? "-"))
            }
        }
        context.logReports()
    }
}
