// `persona run --traits evil,sycophantic,hallucinating`: every stage for every trait, then a
// summary table (pairs kept, vector norm at the layer, trait score at each coefficient).
import ArgumentParser
import Foundation
import PersonaCore

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the whole persona-vector pipeline: generate, judge, filter, extract, steer, monitor, geometry.",
        discussion: """
        Everything is stored in DIR/run.sqlite as soon as it exists: run the same command again after an \
        interruption and it resumes; change one parameter and only what depends on it is recomputed.

        Example:
          persona run --traits evil,sycophantic,hallucinating --questions 5 --max-tokens 64 --out runs/demo
        """)

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run() throws {
        let context = try PipelineContext.open(run: runOptions, options: options, needsJudge: true)
        let summaries = try context.pipeline.run(context.packs)
        context.logReports()
        print(SummaryTable.render(summaries, layer: context.pipeline.settings.steeringLayer(layerCount: context.pipeline.model.config.layerCount),
                                  coefficients: context.pipeline.settings.coefficients))
        print("run store: \(RunStore.databasePath(runDirectory: context.pipeline.runDirectory))")
    }
}

/// The end-of-run table.
enum SummaryTable {
    static func render(_ summaries: [TraitSummary], layer: Int, coefficients: [Double]) -> String {
        var header = ["trait", "pairs kept", "‖v‖ @\(layer)"] + coefficients.map { "c=" + (($0 == $0.rounded()) ? String(Int($0)) : String($0)) }
        var rows: [[String]] = []
        for s in summaries {
            var row = [s.trait, "\(s.pairsKept)/\(s.pairsTotal)", s.vectorNorm.map { String(format: "%.2f", $0) } ?? "-"]
            for c in coefficients {
                let t = s.traitByCoefficient.first { $0.coefficient == c }?.meanTrait
                row.append(t.map { String(format: "%.1f", $0) } ?? "-")
            }
            rows.append(row)
        }
        if summaries.contains(where: { $0.failure != nil }) { header.append("note") }
        for (i, s) in summaries.enumerated() where s.failure != nil { rows[i].append("no pairs kept") }
        let widths = header.indices.map { i in ([header[i]] + rows.map { i < $0.count ? $0[i] : "" }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line)).joined(separator: "\n")
            + "\n(trait score: mean judged score of steered answers on the evaluation questions at each coefficient)"
    }
}
