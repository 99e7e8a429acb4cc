// `persona inspect MODEL`: architecture figures, quantization mix, tensors.
import ArgumentParser
import Foundation
import PersonaCore
import PersonaModel
import PersonaTensor

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's architecture, quantization mix and tensors.",
        discussion:
            "MODEL is a GGUF file, a Hugging Face folder (config.json + *.safetensors), or a default model name (smollm2-135m, qwen2.5-0.5b, qwen2.5-1.5b).")

    @Argument(help: "A GGUF file, a Hugging Face folder, or a default model name.")
    var model: String?

    @Flag(help: "List every tensor (name, type, shape, bytes).")
    var tensors = false

    @Flag(help: "Print machine-readable JSON.")
    var json = false

    @Flag(help: "Show this machine instead of a model: the kernel levels it runs and the OpenBLAS kernel family in use.")
    var machine = false

    @Flag(
        help:
            "With --machine: print only the environment assignments of persona's OpenBLAS choice (KEY=VALUE, empty when none), for programs that do not start through persona."
    )
    var env = false

    func validate() throws {
        if machine {
            guard model == nil, !tensors else { throw ValidationError("--machine takes no model and no --tensors") }
        } else {
            guard model != nil else { throw ValidationError("name a model (a GGUF file, a Hugging Face folder or a default model name), or give --machine") }
            guard !env else { throw ValidationError("--env goes with --machine") }
        }
    }

    func run() throws {
        guard let model else { return try showMachine() }
        let inspection = try ModelInspection(source: ModelLocator.open(model), includeTensors: tensors)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(inspection), as: UTF8.self))
            return
        }
        let c = inspection.config
        var rows: [(String, String)] = [
            ("path", inspection.path),
            ("format", inspection.format + (inspection.ggufVersion.map { " v\($0)" } ?? "")),
            ("architecture", c.architecture),
            ("layers", "\(c.layerCount)"),
            ("hidden size", "\(c.hiddenSize)"),
            ("heads / KV heads", "\(c.headCount) / \(c.kvHeadCount)"),
            ("head dim", "\(c.headDimension)"),
            ("FFN size", "\(c.feedForwardSize)"),
            ("vocab size", "\(c.vocabularySize)"),
            ("context length", "\(c.contextLength)"),
            ("RoPE base", formatNumber(c.ropeTheta)),
            ("norm epsilon", "\(c.normEpsilon)"),
            ("output matrix", c.tiedEmbeddings ? "tied to token embeddings" : "separate"),
            ("QKV bias", c.attentionBias ? "yes" : "no"),
            ("chat template", inspection.hasChatTemplate ? "present" : "absent"),
            ("parameters", formatCount(inspection.parameterCount)),
            ("tensor bytes", formatBytes(inspection.tensorBytes)),
            ("fingerprint", inspection.fingerprint)
        ]
        if let model = inspection.tokenizerModel {
            rows.append(("tokenizer", model + (inspection.tokenizerPre.map { " (pre: \($0))" } ?? "")))
        }
        let width = rows.map(\.0.count).max() ?? 0
        for (k, v) in rows { print(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }
        print("\nquantization mix:")
        for q in inspection.quantization {
            print(
                "  " + q.type.padding(toLength: 6, withPad: " ", startingAt: 0)
                    + String(format: "%5d tensors  %10@", q.tensorCount, formatBytes(q.byteCount)))
        }
        if let list = inspection.tensors {
            print("\ntensors:")
            let nameWidth = list.map(\.name.count).max() ?? 0
            for t in list {
                print(
                    "  " + t.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                        + t.type.padding(toLength: 5, withPad: " ", startingAt: 0) + "  "
                        + "\(t.shape)".padding(toLength: 16, withPad: " ", startingAt: 0) + "  " + formatBytes(t.byteCount))
            }
        }
    }
}

extension InspectCommand {
    struct Machine: Codable {
        var kernelLevels: [String]
        var kernelLevel: String
        var openblasCore: String
        var openblasCoreChosenByPersona: Bool
        var openblasThreads: Int
    }

    func showMachine() throws {
        if env {
            let line = OpenBLASCoreChoice.environment.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
            if !line.isEmpty { print(line) }
            return
        }
        let m = Machine(
            kernelLevels: FusedSupport.supported.map(\.rawValue), kernelLevel: FusedSupport.level.rawValue,
            openblasCore: BLAS.coreName, openblasCoreChosenByPersona: BLAS.coreChosenAtStartup,
            openblasThreads: BLAS.threadCount)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(m), as: UTF8.self))
            return
        }
        print("kernel levels    " + m.kernelLevels.joined(separator: ", ") + " (using \(m.kernelLevel))")
        print("OpenBLAS kernels " + m.openblasCore + (m.openblasCoreChosenByPersona ? " (chosen by persona: OpenBLAS did not know this processor)" : ""))
        print("OpenBLAS threads \(m.openblasThreads)")
    }
}

/// 1234567 → "1.23 M".
func formatCount(_ n: Int) -> String {
    let d = Double(n)
    if d >= 1e9 { return String(format: "%.2f B (%d)", d / 1e9, n) }
    if d >= 1e6 { return String(format: "%.2f M (%d)", d / 1e6, n) }
    return "\(n)"
}

/// Bytes in binary units.
func formatBytes(_ n: Int) -> String {
    let d = Double(n)
    if n >= 1 << 30 { return String(format: "%.2f GiB", d / Double(1 << 30)) }
    if n >= 1 << 20 { return String(format: "%.1f MiB", d / Double(1 << 20)) }
    if n >= 1 << 10 { return String(format: "%.1f KiB", d / Double(1 << 10)) }
    return "\(n) B"
}

func formatNumber(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
}
