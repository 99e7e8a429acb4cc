// `--cap FILE --threshold T [--cap-layers L…]` and `--ablate FILE [--ablate-layers L…]`: the
// projection interventions of `ProjectionHook`, shared by `generate` and `chat`.
import ArgumentParser
import Foundation
import PersonaCore
import PersonaModel

struct ProjectionOptions: ParsableArguments {
    @Option(
        name: .customLong("cap"),
        help: ArgumentHelp("Cap the projection h·v̂ on this vector file's direction at --threshold (activation capping).", valueName: "file"))
    var capFile: String?

    @Option(
        name: .customLong("threshold"),
        help: ArgumentHelp("τ for --cap, in projection units (h·v̂ with v̂ the unit direction): after the hook h·v̂ ≤ τ.", valueName: "tau"))
    var threshold: Float?

    @Option(name: .customLong("cap-layers"), parsing: .upToNextOption, help: ArgumentHelp("Blocks to cap at (default: every block).", valueName: "layer"))
    var capLayers: [Int] = []

    @Option(
        name: .customLong("ablate"),
        help: ArgumentHelp(
            "Remove this vector file's direction from the residual stream (h ← h − (h·v̂)v̂); `refusal` = the model's refusal direction from `persona vectors refusal`, its chosen row at every block.",
            valueName: "file"))
    var ablateFile: String?

    @Option(name: .customLong("ablate-layers"), parsing: .upToNextOption, help: ArgumentHelp("Blocks to ablate at (default: every block).", valueName: "layer"))
    var ablateLayers: [Int] = []

    @Option(
        name: .customLong("direction-layer"),
        help: ArgumentHelp(
            "For a [layers, hidden] file: use its row L as the one direction at every capped/ablated block (default: row L at block L).", valueName: "layer"))
    var directionLayer: Int?

    func validate() throws {
        if capFile != nil, threshold == nil { throw ValidationError("--cap needs --threshold") }
        if capFile == nil, threshold != nil { throw ValidationError("--threshold belongs to --cap: name a vector file with --cap") }
        if let t = threshold, !t.isFinite { throw ValidationError("--threshold must be finite (got \(t))") }
        if capFile == nil, !capLayers.isEmpty { throw ValidationError("--cap-layers needs --cap") }
        if ablateFile == nil, !ablateLayers.isEmpty { throw ValidationError("--ablate-layers needs --ablate") }
        if capFile == nil, ablateFile == nil, directionLayer != nil { throw ValidationError("--direction-layer needs --cap or --ablate") }
    }

    /// `modelName` resolves `--ablate refusal`.
    func specs(modelName: String) throws -> [ProjectionSpec] {
        var specs: [ProjectionSpec] = []
        if let f = ablateFile {
            var path = f, row = directionLayer
            if f == "refusal" {
                path = RefusalDirection.defaultPath(modelName: modelName)
                guard FileManager.default.fileExists(atPath: path) else {
                    throw CommandFailure("--ablate refusal: \(path) does not exist; run `persona vectors refusal \(modelName)` first")
                }
                // The row chosen when the direction was made, unless --direction-layer overrides it.
                if row == nil, let chosen = try TraitVectors.read(path: path).metadata[RefusalDirection.directionLayerKey] { row = Int(chosen) }
            }
            specs.append(ProjectionSpec(path: path, intervention: .ablate, layers: ablateLayers.isEmpty ? nil : ablateLayers, directionLayer: row))
        }
        if let f = capFile, let t = threshold {
            specs.append(ProjectionSpec(path: f, intervention: .cap(threshold: t), layers: capLayers.isEmpty ? nil : capLayers, directionLayer: directionLayer))
        }
        return specs
    }

    /// The hooks, checked against the model. Ablation comes first so that a cap sees the ablated stream.
    func makeHooks(model: LanguageModel) throws -> [LayerHook] {
        try specs(modelName: model.displayName).flatMap { try $0.makeHooks(config: model.config) }
    }
}
