// Option groups shared by subcommands.
import ArgumentParser
import Foundation
import PersonaCore
import PersonaModel
import PersonaTensor

/// A failure found while a command runs (a missing file, a plugin's bad reply): printed as
/// "Error: …" without the usage lines a `ValidationError` (a wrong option) adds.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The arithmetic of the linear layers (DESIGN.md, "Arithmetic: exact and fast").
struct ArithmeticOptions: ParsableArguments {
    @Flag(help: "float32 products of exactly dequantized weights: reproduces the Hugging Face reference (slower).")
    var exact = false

    @Flag(
        help:
            "int8 activations and integer products (llama.cpp's arithmetic; the default unless PERSONA_ARITHMETIC=exact): faster, every layer within cosine 0.999 of the reference."
    )
    var fast = false

    func validate() throws {
        if exact && fast { throw ValidationError("--exact and --fast exclude each other") }
    }

    /// The arithmetic the flags name (nil: neither given).
    var chosen: Arithmetic? { exact ? .exact : fast ? .fast : nil }

    /// Makes the flags' choice the library's default for this process, before any model is
    /// loaded (every model made afterwards, the judge's included, computes with it).
    func apply() {
        if let chosen { Arithmetic.select(chosen) }
    }
}

/// Sampling and length options.
struct GenerationOptions: ParsableArguments {
    @Option(help: "A system message for the chat template.")
    var system: String?

    @Option(name: .customLong("max-tokens"), help: "Most tokens to generate.")
    var maxTokens = 256

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature = 0.0

    @Option(name: .customLong("top-p"), help: "Nucleus sampling: keep tokens up to this probability mass (1 = off).")
    var topP = 1.0

    @Option(name: .customLong("top-k"), help: "Keep only the k most likely tokens (0 = off).")
    var topK = 0

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Option(name: .customLong("stop"), help: "A text that ends generation (repeatable).")
    var stopStrings: [String] = []

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0 (got \(maxTokens))") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be ≥ 0 (got \(temperature))") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1] (got \(topP))") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0 (got \(topK))") }
    }

    var sampling: SamplingParameters { SamplingParameters(temperature: temperature, topP: topP, topK: topK, seed: seed) }
}

/// `--steer FILE --layer L --coeff C [--positions P]`, repeatable: the i-th --layer, --coeff and
/// --positions belong to the i-th --steer (a single --positions applies to all).
struct SteeringOptions: ParsableArguments {
    @Option(
        name: .customLong("steer"),
        help: ArgumentHelp("A vector file (safetensors: `vectors` [layers, hidden] or `vector` [hidden]); repeatable.", valueName: "file"))
    var files: [String] = []

    @Option(name: .customLong("layer"), help: "Block index (0-based) for each --steer.")
    var layers: [Int] = []

    @Option(name: .customLong("coeff"), help: "Coefficient for each --steer.")
    var coefficients: [Float] = []

    @Option(name: .customLong("positions"), help: "all | prompt | response, for each --steer (default response).")
    var positions: [String] = []

    func validate() throws {
        guard layers.count == files.count else { throw ValidationError("give one --layer per --steer (\(files.count) --steer, \(layers.count) --layer)") }
        guard coefficients.count == files.count else {
            throw ValidationError("give one --coeff per --steer (\(files.count) --steer, \(coefficients.count) --coeff)")
        }
        guard positions.count <= 1 || positions.count == files.count else { throw ValidationError("give one --positions, or one per --steer") }
        for p in positions where SteeringPositions(rawValue: p) == nil {
            throw ValidationError("--positions \(p): expected all, prompt or response")
        }
    }

    func specs(config: ModelConfig) throws -> [SteeringSpec] {
        try files.indices.map { i in
            let p = positions.isEmpty ? "response" : positions[positions.count == 1 ? 0 : i]
            return try SteeringSpec.load(
                path: files[i], layer: layers[i], coefficient: coefficients[i],
                positions: SteeringPositions(rawValue: p) ?? .response, config: config)
        }
    }
}

/// Prints to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// JSON for --json output.
func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
