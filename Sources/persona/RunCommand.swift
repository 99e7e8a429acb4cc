// `persona run --traits evil,sycophantic,hallucinating`: every stage for every trait, then a
// summary table (pairs kept, vector norm at the layer, trait score at each coefficient).
import ArgumentParser
import Foundation
import PersonaCore

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract:
            "Run the whole persona-vector pipeline: generate, judge, filter, extract, behave, search (with --search), steer, monitor, geometry; then write the report.",
        discussion: """
            Everything is stored in DIR/run.sqlite as soon as it exists: run the same command again after an \
            interruption and it resumes; change one parameter and only what depends on it is recomputed.

            Example:
              persona run --traits evil,sycophantic,hallucinating --questions 5 --max-tokens 64 --out runs/demo
              persona run --traits evil --search prompted,written --search-layers 6,9,12,15 --out runs/evil
            """)

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run() throws {
        let context = try PipelineContext.open(run: runOptions, options: options, needsJudge: true)
        let summaries = try context.pipeline.run(context.packs)
        context.logReports()
        print(
            TraitSummary.table(
                summaries, layer: context.pipeline.settings.steeringLayer(layerCount: context.pipeline.model.config.layerCount),
                coefficients: context.pipeline.settings.coefficients))
        print("run store: \(RunStore.databasePath(runDirectory: context.pipeline.runDirectory))")
        // The report, also when a trait kept no pairs (it then says why).
        let report = try ReportWriter.write(
            try RunReport.build(store: context.pipeline.store),
            to: URL(fileURLWithPath: context.pipeline.runDirectory).appendingPathComponent("report"))
        print("report: \(report.path)")
    }
}
