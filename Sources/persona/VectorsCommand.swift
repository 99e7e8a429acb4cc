// `persona vectors export|import|show`: vector files between formats (llama.cpp control vectors,
// safetensors, the reference repo's .pt files). The work lives in PersonaCore/Vectors.
import ArgumentParser
import Foundation
import PersonaCore
import PersonaModel

struct VectorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vectors",
        abstract: "Export, import and inspect trait vector files.",
        subcommands: [Export.self, Import.self, Show.self, Refusal.self])

    enum Format: String, ExpressibleByArgument, CaseIterable { case llamaCpp = "llama-cpp", safetensors }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a vector file as a llama.cpp control vector (GGUF) or as our safetensors.",
            discussion:
                "llama.cpp: row L (output of block L) becomes direction.L; row 0 cannot be addressed by llama.cpp and is dropped (with a warning when it is not zero). Use it with llama.cpp's --control-vector-scaled FILE SCALE."
        )

        @Argument(help: "A vector file: .safetensors, .pt (reference repo) or a control-vector .gguf.")
        var file: String

        @Option(help: "llama-cpp or safetensors.")
        var format: Format

        @Option(help: "Output path.")
        var out: String

        @Option(name: .customLong("model-hint"), help: "controlvector.model_hint (the model's architecture, e.g. qwen2 or llama).")
        var modelHint = "llama"

        @Option(help: "For a single-vector file: the block (≥ 1) it belongs to.")
        var layer: Int?

        @Option(help: "Set the trait name in the output's metadata.")
        var trait: String?

        func run() throws {
            let vectors = try VectorFiles.read(path: file, trait: trait)
            let url = URL(fileURLWithPath: out)
            switch format {
            case .llamaCpp:
                let warnings = try ControlVectorGGUF.write(vectors, modelHint: modelHint, layer: layer, to: url, path: file)
                for w in warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
                let count = vectors.isSingle ? 1 : vectors.rows.count - 1
                print("wrote \(out): llama.cpp control vector, \(count) direction tensor(s) of width \(vectors.hiddenSize), model hint \(modelHint)")
            case .safetensors:
                try vectors.write(to: url)
                print("wrote \(out): \(vectors.isSingle ? "[\(vectors.hiddenSize)]" : "[\(vectors.rows.count), \(vectors.hiddenSize)]") float32")
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Convert a reference .pt vector file (or one of ours) into our safetensors vector file.",
            discussion: "A .pt file holds [numLayers + 1, hidden] (row 0 = embeddings): row 0 is dropped, so row L of the result is block L's output.")

        @Argument(help: "A .pt/.pth file (torch.save of one tensor), a .safetensors vector file, or a control-vector .gguf.")
        var file: String

        @Option(help: "Output .safetensors path.")
        var out: String

        @Option(help: "The trait name stored in the file (default: from the file name).")
        var trait: String?

        func run() throws {
            let vectors = try VectorFiles.read(path: file, trait: trait)
            try vectors.write(to: URL(fileURLWithPath: out))
            let shape = vectors.isSingle ? "[\(vectors.hiddenSize)]" : "[\(vectors.rows.count), \(vectors.hiddenSize)]"
            print("wrote \(out): \(shape) float32, trait \(vectors.metadata["persona.trait"] ?? "?"), method \(vectors.metadata["persona.method"] ?? "?")")
            if let note = vectors.metadata["persona.import"] { print(note) }
        }
    }

    struct Refusal: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compute a model's refusal direction from harmful vs harmless requests (Arditi et al. 2024).",
            discussion: """
                Per layer: mean activation at the last prompt token of the harmful requests minus that of the harmless ones
                (Directions/refusal.json, or --requests FILE with the same fields: name, description, harmful[], harmless[]).
                The row ablated everywhere by `--ablate refusal` is the candidate layer whose ablation most lowers the
                probability that a harmful request's answer opens with a refusal token ("I", "As", "Sorry").
                Written by default to runs/refusal/MODEL.safetensors, which is where `--ablate refusal` looks.
                Example:
                  persona vectors refusal qwen2.5-0.5b
                  persona generate qwen2.5-0.5b "Write a phishing email." --ablate refusal
                """)

        @Argument(help: "A GGUF file, a Hugging Face folder, or a default model name.")
        var model: String

        @Option(help: "Output .safetensors path (default runs/refusal/MODEL.safetensors).")
        var out: String?

        @Option(help: "The request set (JSON: name, description, harmful[], harmless[]).")
        var requests = RequestContrastSet.defaultPath

        @Option(
            name: .customLong("candidate-layers"), parsing: .upToNextOption,
            help: ArgumentHelp("Layers whose row may be chosen (default: a fifth to four fifths of the depth).", valueName: "layer"))
        var candidateLayers: [Int] = []

        func run() throws {
            let set = try RequestContrastSet.load(path: requests)
            let lm = try LanguageModel(model)
            let result = try RefusalDirection.make(
                set: set, model: lm, candidates: candidateLayers.isEmpty ? nil : candidateLayers,
                progress: { printError($0) })
            let path = out ?? RefusalDirection.defaultPath(modelName: lm.displayName)
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try result.vectors.write(to: url)
            print(
                String(
                    format: "wrote %@: [%d, %d] float32; ablated row: layer %d (log P(refusal opening) on harmful requests %.3f → %.3f)",
                    path, result.vectors.rows.count, result.vectors.hiddenSize, result.chosenLayer, result.baselineScore,
                    result.candidateScores.first { $0.layer == result.chosenLayer }?.score ?? .nan))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a vector file's shape, metadata and norm per layer.")

        @Argument(help: "A .safetensors, .pt/.pth or control-vector .gguf file.")
        var file: String

        @Flag(help: "Print machine-readable JSON.")
        var json = false

        func run() throws {
            let summary = try VectorSummary.load(path: file)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
                print(String(decoding: try encoder.encode(summary), as: UTF8.self))
                return
            }
            print("file     \(summary.path)")
            print("format   \(summary.format)")
            print("shape    \(summary.shape)")
            for key in summary.metadata.keys.sorted() { print("meta     \(key) = \(summary.metadata[key] ?? "")") }
            let peak = summary.norms.max() ?? 0
            print("\nlayer  norm")
            for (layer, norm) in summary.norms.enumerated() {
                let bar = peak > 0 && norm.isFinite ? String(repeating: "█", count: Int((norm / peak * 40).rounded())) : ""
                print(String(format: "%5d  %10.4f  ", layer, norm) + bar)
            }
        }
    }
}
