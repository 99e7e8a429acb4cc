// `persona search MODEL --traits T …`: the judge-free layer × coefficient search of one or more
// traits (Steering/SteeringSearch.swift), with a vector from written contrast or from a file.
// `persona vectors written` writes the written-contrast vector alone.
import ArgumentParser
import Foundation
import PersonaCore
import PersonaModel

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search layers × coefficients for each trait by judge-free signals and choose a steering point.",
        discussion: """
            Signals per point: the change of mean P(trait answer) on the pack's measurement items (the odd-numbered
            behavior_items; written vectors are made from the even-numbered ones), and a coherence cost, KL(unsteered ‖ steered)
            per token on the unsteered model's own answers to neutral prompts. Chosen: the largest rise whose cost is ≤ --max-kl.
            Examples:
              persona search qwen2.5-0.5b --traits evil --source written --layers 6,9,12,15 --coeffs -0.2,0,0.1,0.2,0.4
              persona search qwen2.5-0.5b --traits evil --vector runs/demo/vectors/evil_response_avg.safetensors --coeff-unit raw --coeffs 0,2,4
              persona search qwen2.5-0.5b --traits evil --ablate refusal     (refusal ablated at every block, baseline included)
              persona search qwen2.5-0.5b --traits evil --layers 9,12,6+9+12 --coeffs 0,0.05,0.1   (6+9+12: three layers steered at once)
            """)

    @Argument(help: "A GGUF file, a Hugging Face folder, or a default model name.")
    var model: String

    @Option(help: "Comma-separated traits: names in TraitPacks/, pack folders or pack.json files.")
    var traits: String

    @Option(help: "written (teacher-forced contrast of the pack's even-numbered two-choice items) or prompted (give --vector).")
    var source = "written"

    @Option(help: "A vector file ([layers, hidden]) to search instead of making one; one trait only.")
    var vector: String?

    @Option(
        help: ArgumentHelp(
            "Comma-separated layers (default: every third block from a sixth to five sixths of the depth); A+B+C steers layers A, B and C at once.",
            discussion:
                "In a layer set every layer gets the coefficient in its own units (norm: c × that layer's mean residual norm / ‖v‖). persona run steers single layers only."
        ))
    var layers: String?

    @Option(parsing: .unconditional, help: "Comma-separated coefficients (default -0.2,0,0.1,0.2,0.3,0.5 in norm units).")
    var coeffs = "-0.2,0,0.1,0.2,0.3,0.5"

    @Option(name: .customLong("coeff-unit"), help: "raw or norm (c × meanNorm_L / ‖v_L‖; default norm).")
    var coefficientUnit = "norm"

    @Option(help: "Steering positions: all, prompt or response (default response, as persona run, generate and chat steer).")
    var positions = "response"

    @Option(name: .customLong("max-kl"), help: "Coherence floor: the largest KL per token (nats) a chosen point may cost (default 0.5).")
    var maxKL = SteeringSearch.defaultMaxKL

    @Option(help: "Write each trait's result (and written vector) into this folder: search-TRAIT.json, TRAIT_written.safetensors.")
    var out: String?

    @OptionGroup var projection: ProjectionOptions
    @OptionGroup var arithmetic: ArithmeticOptions

    func validate() throws {
        guard ["written", "prompted"].contains(source) else { throw ValidationError("--source \(source): expected written or prompted") }
        if source == "prompted", vector == nil {
            throw ValidationError("--source prompted needs --vector FILE (a run's vectors/TRAIT_response_avg.safetensors)")
        }
        guard CoefficientUnit(rawValue: coefficientUnit) != nil else { throw ValidationError("--coeff-unit \(coefficientUnit): expected raw or norm") }
        guard SteeringPositions(rawValue: positions) != nil else { throw ValidationError("--positions \(positions): expected all, prompt or response") }
        guard maxKL > 0, maxKL.isFinite else { throw ValidationError("--max-kl must be > 0 (got \(maxKL))") }
        _ = try PipelineOptions.numbers(coeffs, option: "coeffs")
        if let layers { _ = try Self.layerSets(layers) }
    }

    /// `--layers`: single layers, and layer sets written A+B+C.
    static func layerSets(_ text: String) throws -> [[Int]] {
        try text.split(separator: ",").map { entry in
            let set = try entry.split(separator: "+", omittingEmptySubsequences: false).map { part -> Int in
                let trimmed = part.trimmingCharacters(in: .whitespaces)
                guard let l = Int(trimmed), l >= 0 else {
                    throw ValidationError("--layers: \"\(trimmed)\" in \"\(entry)\" is not a layer index (whole number ≥ 0)")
                }
                return l
            }
            guard Set(set).count == set.count else { throw ValidationError("--layers: \"\(entry)\" names a layer twice") }
            return set
        }
    }

    func run() throws {
        let names = traits.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if vector != nil, names.count != 1 { throw ValidationError("--vector belongs to one trait; name one with --traits") }
        let packs = try PipelineEnvironment.loadPacks(names: names)
        arithmetic.apply()
        let lm = try LanguageModel(model)
        let n = lm.config.layerCount
        let sets = try layers.map(Self.layerSets) ?? Pipeline.defaultSearchLayers(layerCount: n).map { [$0] }
        let grid = SteeringSearch.Grid(
            layers: sets.filter { $0.count == 1 }.map { $0[0] }, layerSets: sets.filter { $0.count > 1 },
            coefficients: try PipelineOptions.numbers(coeffs, option: "coeffs"),
            unit: CoefficientUnit(rawValue: coefficientUnit) ?? .norm,
            positions: SteeringPositions(rawValue: positions) ?? .response, maxKL: maxKL)
        for loaded in packs {
            let pack = loaded.pack
            let rows: [[Float]]
            if let vector {
                let v = try TraitVectors.read(path: vector)
                try v.check(against: lm.config, path: vector)
                guard !v.isSingle else { throw ValidationError("--vector \(vector): holds one [hidden] vector; the search needs [layers, hidden]") }
                rows = v.rows
            } else {
                let items = pack.behaviorItems ?? []
                let extraction = try WrittenContrast.extractionIndices(of: pack)
                printError("\(pack.name): written-contrast vector from \(extraction.count) extraction items")
                rows = try WrittenContrast.vectors(items: extraction.map { items[$0] }, model: lm)
                if let out {
                    let url = URL(fileURLWithPath: out).appendingPathComponent("\(pack.name)_written.safetensors")
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try WrittenContrast.file(rows: rows, trait: pack.name, model: lm, extractionIndices: extraction).write(to: url)
                }
            }
            // Projection interventions (--ablate refusal, --cap) hold at every searched point and in the
            // unsteered baseline: the search measures steering on top of them. The vector is made without them.
            var result = try SteeringSearch.run(
                pack: pack, source: vector == nil ? "written" : "prompted", vectors: rows, model: lm, grid: grid,
                interventions: try projection.makeHooks(model: lm), progress: { printError($0) })
            result.interventions = try projection.specs(modelName: lm.displayName).map(\.description)
            if let list = result.interventions, !list.isEmpty { printError("\(pack.name): searched with \(list.joined(separator: "; "))") }
            print(SteeringSearch.table(result))
            if let out {
                let url = URL(fileURLWithPath: out).appendingPathComponent("search-\(pack.name).json")
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(try jsonText(result).utf8).write(to: url)
            }
        }
    }
}
