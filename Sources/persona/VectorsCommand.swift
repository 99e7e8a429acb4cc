// `persona vectors export|import|show`: vector files between formats (llama.cpp control vectors,
// safetensors, the reference repo's .pt files). The work lives in PersonaCore/Vectors.
import ArgumentParser
import Foundation
import PersonaCore

struct VectorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vectors",
        abstract: "Export, import and inspect trait vector files.",
        subcommands: [Export.self, Import.self, Show.self])

    enum Format: String, ExpressibleByArgument, CaseIterable { case llamaCpp = "llama-cpp", safetensors }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a vector file as a llama.cpp control vector (GGUF) or as our safetensors.",
            discussion: "llama.cpp: row L (output of block L) becomes direction.L; row 0 cannot be addressed by llama.cpp and is dropped (with a warning when it is not zero). Use it with llama.cpp's --control-vector-scaled FILE SCALE.")

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
