// `persona stage behave --run DIR`: the judge-free behavioural measure at each coefficient.
import ArgumentParser
import Foundation
import PersonaCore

struct BehaveStageCommand: ParsableCommand {
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

    func run() throws {
        let context = try PipelineContext.open(run: runOptions, options: options, needsJudge: false)
        let p = context.pipeline
        for pack in context.packs {
            for r in try p.behave(pack) {
                print("\(pack.name) layer \(r.layer) coeff \(r.coefficient): P(trait answer) \(String(format: "%.3f", r.meanTraitProbability)) over \(r.itemProbabilities.count) items, mean log-ratio \(String(format: "%+.3f", r.meanLogRatio)) nats/token")
            }
        }
        context.logReports()
    }
}
