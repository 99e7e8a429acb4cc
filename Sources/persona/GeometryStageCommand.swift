// `persona stage geometry --run DIR`: cosine similarity between the traits' vectors.
import ArgumentParser
import Foundation
import PersonaCore

struct GeometryStageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "geometry", abstract: "Cosine similarity between the traits' vectors at the layer and at every layer.")

    @OptionGroup var runOptions: RunOptions
    @OptionGroup var options: PipelineOptions

    func run() throws {
        let context = try PipelineContext.open(run: runOptions, options: options, needsJudge: false)
        let g = try context.pipeline.geometry(context.packs)
        let width = max(g.traits.map(\.count).max() ?? 0, 7)
        print("cosine similarity at layer \(g.layer)")
        print("".padding(toLength: width, withPad: " ", startingAt: 0) + "  " + g.traits.map { $0.padding(toLength: width, withPad: " ", startingAt: 0) }.joined(separator: "  "))
        for (i, t) in g.traits.enumerated() {
            print(t.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                  + g.cosine[i].map { String(format: "%\(width).3f", $0) }.joined(separator: "  "))
        }
    }
}
