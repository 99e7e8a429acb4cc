// `persona stage STAGE --run DIR`: one pipeline stage on a run directory; the other stages' results
// come from its store. Every stage takes the same option groups and runs the same way (open the
// run, run the stage for each trait, print what it found, log the reports); a stage says only its
// name, whether it needs the judge, and what it prints (`StageRunner`).
import ArgumentParser
import Foundation
import PersonaCore

struct StageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stage",
        abstract: "Run one pipeline stage on a run directory (the others' results come from its store).",
        subcommands: [
            GenerateStageCommand.self, JudgeStageCommand.self, FilterStageCommand.self, ExtractStageCommand.self,
            SearchStageCommand.self, SteerStageCommand.self, BehaveStageCommand.self, MonitorStageCommand.self,
            GeometryStageCommand.self
        ])
}

/// One stage as a subcommand: `run()` opens the run and calls `run(_:)`.
protocol StageRunner: ParsableCommand {
    var runOptions: RunOptions { get }
    var options: PipelineOptions { get }
    /// Whether the stage loads the run's judge.
    static var needsJudge: Bool { get }
    /// The options the stage runs with (a stage may fill in its own defaults).
    func effectiveOptions() throws -> PipelineOptions
    func run(_ context: PipelineContext) throws
}

extension StageRunner {
    static var needsJudge: Bool { false }
    func effectiveOptions() throws -> PipelineOptions { options }

    func run() throws {
        let context = try PipelineContext.open(run: runOptions, options: effectiveOptions(), needsJudge: Self.needsJudge)
        try run(context)
        context.logReports()
    }
}

struct GenerateStageCommand: StageRunner {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Generate the contrastive extraction answers (with activations).")
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run(_ context: PipelineContext) throws {
        for pack in context.packs { try context.pipeline.generate(pack) }
    }
}

struct JudgeStageCommand: StageRunner {
    static let configuration = CommandConfiguration(commandName: "judge", abstract: "Score every extraction answer for the trait and for coherence.")
    static let needsJudge = true
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run(_ context: PipelineContext) throws {
        for pack in context.packs { try context.pipeline.judgeAnswers(pack) }
    }
}

struct FilterStageCommand: StageRunner {
    static let configuration = CommandConfiguration(
        commandName: "filter", abstract: "Keep the pairs where the prompts changed behaviour; record why the others were dropped.")
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run(_ context: PipelineContext) throws {
        for pack in context.packs {
            let o = try context.pipeline.filter(pack)
            print("\(pack.name): kept \(o.kept) of \(o.decisions.count) pairs")
            for (reason, n) in o.dropReasons.sorted(by: { $0.key < $1.key }) { print("  dropped \(n): \(reason)") }
            if let q = o.judgeQuality {
                let auc = q.auc.map { String(format: "%.3f", $0) } ?? "-"
                let means = [q.positiveMean, q.negativeMean].map { $0.map { String(format: "%.1f", $0) } ?? "-" }
                let gap = q.meanGap.map { String(format: "%+.1f", $0) } ?? "-"
                let coherence = q.coherenceMean.map { String(format: "%.1f", $0) } ?? "-"
                print(
                    "  judge: AUC \(auc) on \(q.positiveCount) positive / \(q.negativeCount) negative answers, "
                        + "mean trait \(means[0]) vs \(means[1]) (gap \(gap)), mean coherence \(coherence)")
            }
        }
    }
}

struct ExtractStageCommand: StageRunner {
    static let configuration = CommandConfiguration(
        commandName: "extract", abstract: "Compute the trait vectors (response_avg, prompt_avg, prompt_last) and write them as safetensors.")
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run(_ context: PipelineContext) throws {
        let p = context.pipeline
        for pack in context.packs {
            try p.extract(pack)
            for m in VectorMethod.allCases { print(p.vectorFilePath(trait: pack.name, method: m)) }
        }
    }
}

struct SearchStageCommand: StageRunner {
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

    func effectiveOptions() throws -> PipelineOptions {
        var options = options
        if options.search == nil, (try runOptions.storedRun(runOptions.runDirectory())?.settings.searchSources ?? []).isEmpty {
            options.search = "prompted,written"
        }
        return options
    }

    func run(_ context: PipelineContext) throws {
        for pack in context.packs {
            let outcome = try context.pipeline.search(pack)
            for r in outcome.results { print(SteeringSearch.table(r)) }
            print("\(pack.name): " + (outcome.choice?.reason ?? outcome.reason ?? "no choice"))
        }
    }
}

struct SteerStageCommand: StageRunner {
    static let configuration = CommandConfiguration(
        commandName: "steer", abstract: "Steer the evaluation answers at each coefficient (and swept layer) and judge them.")
    static let needsJudge = true
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run(_ context: PipelineContext) throws {
        for pack in context.packs {
            let o = try context.pipeline.steer(pack)
            for r in o.points + o.sweep {
                print("\(pack.name) layer \(r.layer) coeff \(r.coefficient): trait \(format(r.meanTrait)), coherence \(format(r.meanCoherence))")
            }
            if let b = o.bestLayer { print("\(pack.name): best layer \(b)") }
        }
    }
}

struct BehaveStageCommand: StageRunner {
    static let configuration = CommandConfiguration(
        commandName: "behave",
        abstract: "Measure the trait without a judge: P(trait answer) of the pack's two-choice items at each coefficient.",
        discussion: """
            Each item of the pack's behavior_items is a question with two short answers, one showing the trait. At each \
            steering coefficient (at the steering layer, with the run's position mode) the model scores both answers \
            teacher-forced, and P(trait answer) = σ(m(trait) − m(other)), m being the mean log-probability per answer \
            token. No sampling and no judge: the numbers are exact and repeatable. Needs the trait's vector (extract).
            """)
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run(_ context: PipelineContext) throws {
        for pack in context.packs {
            for r in try context.pipeline.behave(pack) {
                let p = String(format: "%.3f", r.meanTraitProbability), ratio = String(format: "%+.3f", r.meanLogRatio)
                print(
                    "\(pack.name) layer \(r.layer) coeff \(r.coefficient): P(trait answer) \(p) over \(r.itemProbabilities.count) items, mean log-ratio \(ratio) nats/token"
                )
            }
        }
    }
}

struct MonitorStageCommand: StageRunner {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Project baseline, prompted and steered answers on the vector; correlate last-prompt-token projections with trait scores.")
    static let needsJudge = true
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run(_ context: PipelineContext) throws {
        for pack in context.packs {
            let o = try context.pipeline.monitor(pack)
            for (c, v) in o.projections.sorted(by: { $0.key < $1.key }) {
                print("\(pack.name) \(c.label): mean projection \(format(v.reduce(0, +) / Double(max(v.count, 1)), digits: 3)) (n=\(v.count))")
            }
            print("\(pack.name): prompt-last projection vs trait score correlation \(format(o.promptLastCorrelation, digits: 3))")
        }
    }
}

struct GeometryStageCommand: StageRunner {
    static let configuration = CommandConfiguration(
        commandName: "geometry", abstract: "Cosine similarity between the traits' vectors at the layer and at every layer.")
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run(_ context: PipelineContext) throws {
        let g = try context.pipeline.geometry(context.packs)
        let width = max(g.traits.map(\.count).max() ?? 0, 7)
        func pad(_ s: String) -> String { s.padding(toLength: width, withPad: " ", startingAt: 0) }
        print("cosine similarity at layer \(g.layer)")
        print(pad("") + "  " + g.traits.map(pad).joined(separator: "  "))
        for (i, t) in g.traits.enumerated() {
            print(pad(t) + "  " + g.cosine[i].map { String(format: "%\(width).3f", $0) }.joined(separator: "  "))
        }
    }
}
