// `persona stage search --run DIR [--search prompted,written]`: the steering search of each trait
// (Pipeline/SearchStage.swift): layers × coefficients by judge-free signals, one choice per trait.
import ArgumentParser
import Foundation
import PersonaCore

struct SearchStageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search layers × coefficients per vector source without a judge and choose the point to steer with.",
        discussion: """
        Signals per point: the change of mean P(trait answer) on the measurement half of the pack's two-choice items \
        (written vectors are made from the other half), and KL(unsteered ‖ steered) per token on the unsteered model's \
        answers to neutral prompts. Chosen: the largest rise whose KL is ≤ --max-kl, over the sources named by --search \
        (default here: the run's, else prompted,written). `persona stage steer` then judges the chosen point.
        """)

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run() throws {
        var options = options
        if options.search == nil, (try runOptions.storedRun(runOptions.runDirectory())?.settings.searchSources ?? []).isEmpty {
            options.search = "prompted,written"
        }
        let context = try PipelineContext.open(run: runOptions, options: options, needsJudge: false)
        for pack in context.packs {
            let outcome = try context.pipeline.search(pack)
            for r in outcome.results { print(SteeringSearch.table(r)) }
            print("\(pack.name): " + (outcome.choice?.reason ?? outcome.reason ?? "no choice"))
        }
        context.logReports()
    }
}
