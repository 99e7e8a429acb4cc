// Option groups of `persona run` and `persona stage …`: where the run lives, which model, traits
// and judge, and the pipeline's parameters. A stage run alone on an existing run directory takes
// every parameter it is not given from the run's store, so `persona stage judge --run DIR` judges
// exactly what `persona stage generate --run DIR …` generated.
import ArgumentParser
import Foundation
import PersonaCore
import PersonaModel
import PersonaRemote
import PersonaTensor

/// The run directory, model, traits and judge.
struct RunOptions: ParsableArguments {
    @Option(name: [.customLong("run"), .customLong("out")], help: "The run directory (holds run.sqlite and vectors/); default runs/<date-time>.")
    var directory: String?

    @Option(help: "A GGUF file, a Hugging Face folder, or a default model name (default: the run's model, else qwen2.5-0.5b).")
    var model: String?

    @Option(help: "Comma-separated traits: names in TraitPacks/, pack folders or pack.json files (default: the run's traits).")
    var traits: String?

    @Option(help: "The autorater plugin (default: the run's judge, else local-judge).")
    var judge: String?

    @Option(name: .customLong("judge-config"), help: "JSON configuration for the judge plugin (default: the run's, when the plugin is the run's).")
    var judgeConfig: String?

    @Option(
        help: ArgumentHelp(
            "Where answers are generated: local (this model, here) or openai (an OpenAI-compatible server: vLLM, llama-server, persona serve; default: the run's engine, else local).",
            discussion:
                "With openai, activations are still computed here, by one teacher-forced pass of each answer through --model, which must be the server's model. Steered answers are generated here unless the server is persona serve on the same weights."
        ))
    var engine: String?

    @Option(name: .customLong("base-url"), help: "--engine openai: the server's API root, e.g. http://127.0.0.1:8000/v1.")
    var baseURL: String?

    @Option(name: .customLong("engine-model"), help: "--engine openai: the model's name on the server.")
    var engineModel: String?

    @Option(name: .customLong("api-key-env"), help: "--engine openai: the environment variable holding the API key (none: no key is sent).")
    var apiKeyEnv: String?

    @Option(name: .customLong("engine-concurrency"), help: "--engine openai: requests in flight at once (default 8).")
    var engineConcurrency: Int?

    /// The engine setting: given options over the stored run's over local.
    func engineSetting(stored: RunInfo?) throws -> EngineSetting {
        let previous = stored?.engine ?? .local
        let kind = engine ?? previous.kind
        switch kind {
        case "local":
            if engine == "local" || previous.kind == "local" {
                if let extra = [baseURL.map { _ in "--base-url" }, engineModel.map { _ in "--engine-model" }, apiKeyEnv.map { _ in "--api-key-env" }]
                    .compactMap({ $0 }).first
                {
                    throw ValidationError("\(extra) needs --engine openai")
                }
            }
            return .local
        case "openai":
            let same = previous.kind == "openai"
            guard let url = baseURL ?? (same ? previous.baseURL : nil) else {
                throw ValidationError("--engine openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
            }
            guard let name = engineModel ?? (same ? previous.model : nil) else {
                throw ValidationError("--engine openai needs --engine-model (the model's name on the server)")
            }
            return EngineSetting(
                kind: "openai", baseURL: url, model: name, apiKeyEnvironmentVariable: apiKeyEnv ?? (same ? previous.apiKeyEnvironmentVariable : nil),
                concurrency: engineConcurrency ?? (same ? previous.concurrency : nil))
        default:
            throw ValidationError("--engine \(kind): expected local or openai")
        }
    }

    /// The engine of a setting (nil for local), checked against the local model's weights for steering.
    static func makeEngine(_ setting: EngineSetting, model: LanguageModel) throws -> AnswerEngine? {
        guard setting.kind == "openai", let url = setting.baseURL, let name = setting.model else { return nil }
        var c = OpenAIEngine.Configuration(baseURL: url, model: name, apiKeyEnvironmentVariable: setting.apiKeyEnvironmentVariable)
        if let n = setting.concurrency { c.concurrency = n }
        let engine = try OpenAIEngine(configuration: c)
        engine.detectSteering(localFingerprint: model.fingerprint)
        return engine
    }

    /// The run directory to use (a new timestamped one under runs/ when none was given).
    func runDirectory() -> String {
        if let directory { return directory }
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        return "runs/" + f.string(from: Date())
    }

    /// What the store of `directory` remembers, if it exists.
    func storedRun(_ directory: String) throws -> RunInfo? {
        guard FileManager.default.fileExists(atPath: RunStore.databasePath(runDirectory: directory)) else { return nil }
        return try RunStore.open(runDirectory: directory, readOnly: true).info("run", as: RunInfo.self)
    }

    func traitNames(stored: RunInfo?) throws -> [String] {
        let names =
            traits.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
            ?? stored?.traits.map { stored?.packSources?[$0] ?? $0 } ?? []
        guard !names.isEmpty else { throw ValidationError("name the traits with --traits (e.g. --traits evil,sycophantic)") }
        return names
    }

    func modelArgument(stored: RunInfo?) -> String { model ?? stored?.modelArgument ?? "qwen2.5-0.5b" }
}

/// The pipeline's parameters; any not given come from the run's store, then the defaults.
struct PipelineOptions: ParsableArguments {
    @Option(help: "Extraction questions per trait (default: all 20 of the pack's).")
    var questions: Int?

    @Option(name: .customLong("eval-questions"), help: "Evaluation questions for steering and monitoring (default: as many as --questions).")
    var evaluationQuestions: Int?

    @Option(help: "Sampled answers per question, instruction and polarity (default 1).")
    var samples: Int?

    @Option(name: .customLong("max-tokens"), help: "Longest extraction answer in tokens (default 128).")
    var maxTokens: Int?

    @Option(help: "Sampling temperature of extraction answers (default 1).")
    var temperature: Double?

    @Option(help: "Run seed: every answer's seed derives from it (default 0).")
    var seed: UInt64?

    @Option(name: .customLong("batch-size"), help: "Sequences decoded together (default 16; speed only).")
    var batchSize: Int?

    @Option(name: .customLong("trait-threshold"), help: "Filter: positive trait ≥ T, negative < 100 − T (default 50).")
    var traitThreshold: Double?

    @Option(name: .customLong("coherence-threshold"), help: "Filter: both answers' coherence ≥ C (default 50).")
    var coherenceThreshold: Double?

    @Option(help: "Vector used for steering and monitoring: response_avg, prompt_avg or prompt_last (default response_avg).")
    var method: String?

    @Option(
        parsing: .unconditional,
        help:
            "Comma-separated steering coefficients, in --coeff-unit (default -0.2,-0.1,0,0.1,0.2,0.3 in norm units; -2,-1,0,1,2,3 with --coeff-unit raw); negative values are fine (--coeffs -0.3,0,0.3)."
    )
    var coeffs: String?

    @Option(
        name: .customLong("coeff-unit"),
        help: ArgumentHelp(
            "Unit of --coeffs: raw (c × v) or norm (c × meanNorm_L × v/‖v‖: the added vector's length as a fraction of layer L's mean residual norm on the extraction questions). A new run defaults to norm; a stored run keeps its unit.",
            valueName: "unit"))
    var coefficientUnit: String?

    @Option(help: "Steering and monitoring layer, 0-based block index (default: layers / 2).")
    var layer: Int?

    @Option(help: "Comma-separated layers to sweep: which moves the trait most with coherence ≥ 50.")
    var layers: String?

    @Option(help: "Steering positions: all, prompt or response (default response).")
    var positions: String?

    @Option(name: .customLong("steer-temperature"), help: "Temperature of steered and monitoring answers (default 0: greedy).")
    var steerTemperature: Double?

    @Option(name: .customLong("steer-max-tokens"), help: "Longest steered answer (default: --max-tokens).")
    var steerMaxTokens: Int?

    @Option(
        help: ArgumentHelp(
            "Steering search: comma-separated vector sources to search and compare, prompted and/or written, or none (default: the run's, else none).",
            discussion:
                "prompted: the extracted vector; written: teacher-forced contrast of the pack's written two-choice answers (extraction half). The search measures layers × coefficients without a judge and chooses the point the steer stage judges.",
            valueName: "sources"))
    var search: String?

    @Option(
        name: .customLong("search-layers"),
        help: "Comma-separated layers the search covers (default: every third block from a sixth to five sixths of the depth).")
    var searchLayers: String?

    @Option(
        name: .customLong("search-coeffs"), parsing: .unconditional, help: "Comma-separated search coefficients in norm units (default -0.2,0,0.1,0.2,0.3,0.5)."
    )
    var searchCoeffs: String?

    @OptionGroup var arithmetic: ArithmeticOptions

    @Option(name: .customLong("max-kl"), help: "The search's coherence floor: the largest KL per token (nats) a chosen point may cost (default 0.5).")
    var maxKL: Double?

    @Option(
        help: ArgumentHelp(
            "Ablate a direction while steering: refusal, or none (default: the run's, else none).",
            discussion:
                "refusal: the model's refusal direction, made once per run from Directions/refusal.json (stored as vectors/refusal_prompt_last.safetensors), removed from the residual stream at every block for the steered answers and their unsteered baseline, the search and the behavioural measure. Extraction, judging and prompted answers are not ablated.",
            valueName: "direction"))
    var ablate: String?

    static func numbers(_ text: String, option: String) throws -> [Double] {
        try text.split(separator: ",").map {
            guard let x = Double($0.trimmingCharacters(in: .whitespaces)), x.isFinite else { throw ValidationError("--\(option): \"\($0)\" is not a number") }
            return x
        }
    }

    func validate() throws {
        if let coeffs { _ = try Self.numbers(coeffs, option: "coeffs") }
        if let layers { _ = try Self.numbers(layers, option: "layers") }
        if let method, VectorMethod(rawValue: method) == nil { throw ValidationError("--method \(method): expected response_avg, prompt_avg or prompt_last") }
        if let coefficientUnit, CoefficientUnit(rawValue: coefficientUnit) == nil {
            throw ValidationError("--coeff-unit \(coefficientUnit): expected raw or norm")
        }
        if let positions, SteeringPositions(rawValue: positions) == nil { throw ValidationError("--positions \(positions): expected all, prompt or response") }
        _ = try searchSources()
        if let ablate, ablate != "refusal", ablate != "none" { throw ValidationError("--ablate \(ablate): expected refusal or none") }
        if let searchLayers { _ = try Self.numbers(searchLayers, option: "search-layers") }
        if let searchCoeffs { _ = try Self.numbers(searchCoeffs, option: "search-coeffs") }
    }

    /// `--search`: nil when not given, [] for none.
    func searchSources() throws -> [String]? {
        guard let search else { return nil }
        let names = search.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        if names == ["none"] { return [] }
        for n in names where !["prompted", "written"].contains(n) {
            throw ValidationError("--search \(search): \"\(n)\" is not a source (prompted, written or none)")
        }
        return names
    }

    static func wholeNumbers(_ text: String, option: String) throws -> [Int] {
        try numbers(text, option: option).map {
            guard let l = Int(exactly: $0) else { throw ValidationError("--\(option): \($0) is not a whole number") }
            return l
        }
    }

    /// A new run's default sweep, in norm units.
    static let defaultNormCoefficients: [Double] = [-0.2, -0.1, 0, 0.1, 0.2, 0.3]

    /// The settings: given options over the stored run's settings over the defaults.
    func settings(stored: PipelineSettings?) throws -> PipelineSettings {
        var s = stored ?? PipelineSettings()
        if stored == nil {
            // A new run's sweep is in norm units (a coefficient means something only against the
            // layer's residual norm); `--coeff-unit raw` keeps the library's raw default.
            let unit = coefficientUnit.flatMap(CoefficientUnit.init(rawValue:)) ?? .norm
            s.coefficientUnit = unit
            if unit == .norm { s.coefficients = Self.defaultNormCoefficients }
            s.arithmetic = Arithmetic.default
        }
        if let chosen = arithmetic.chosen { s.arithmetic = chosen }
        if let questions { s.questions = questions }
        if let evaluationQuestions { s.evaluationQuestions = evaluationQuestions }
        if let samples { s.samples = samples }
        if let maxTokens { s.maxTokens = maxTokens }
        if let temperature { s.temperature = temperature }
        if let seed { s.seed = seed }
        if let batchSize { s.batchSize = batchSize }
        if let traitThreshold { s.traitThreshold = traitThreshold }
        if let coherenceThreshold { s.coherenceThreshold = coherenceThreshold }
        if let method, let m = VectorMethod(rawValue: method) { s.method = m }
        if let coeffs { s.coefficients = try Self.numbers(coeffs, option: "coeffs") }
        if let coefficientUnit, let u = CoefficientUnit(rawValue: coefficientUnit) { s.coefficientUnit = u }
        if let layer { s.layer = layer }
        if let layers {
            s.sweepLayers = try Self.numbers(layers, option: "layers").map {
                guard let l = Int(exactly: $0) else { throw ValidationError("--layers: \($0) is not a whole number") }
                return l
            }
        }
        if let positions, let p = SteeringPositions(rawValue: positions) { s.positions = p }
        if let steerTemperature { s.steerTemperature = steerTemperature }
        if let steerMaxTokens { s.steerMaxTokens = steerMaxTokens }
        if let sources = try searchSources() { s.searchSources = sources.isEmpty ? nil : sources }
        if let searchLayers { s.searchLayers = try Self.wholeNumbers(searchLayers, option: "search-layers") }
        if let searchCoeffs { s.searchCoefficients = try Self.numbers(searchCoeffs, option: "search-coeffs") }
        if let maxKL { s.searchMaxKL = maxKL }
        if let ablate { s.ablate = ablate == "none" ? nil : ablate }
        try s.validate()
        return s
    }
}

/// Everything a pipeline command needs, opened from the options.
struct PipelineContext {
    let pipeline: Pipeline
    let packs: [LoadedPack]

    /// Opens the model, packs, judge (when `needsJudge`) and run store.
    static func open(run: RunOptions, options: PipelineOptions, needsJudge: Bool) throws -> PipelineContext {
        let directory = run.runDirectory()
        let stored = try run.storedRun(directory)
        let settings = try options.settings(stored: stored?.settings)
        let progress = ProgressDisplay()
        let packs = try PipelineEnvironment.loadPacks(names: try run.traitNames(stored: stored), warn: progress.warn)
        let modelArgument = run.modelArgument(stored: stored)
        let engineSetting = try run.engineSetting(stored: stored)
        // The run's arithmetic (a stored run keeps its own; nil is exact, see PipelineSettings)
        // becomes the process's before the model and the judge load.
        let arithmetic = settings.runArithmetic
        Arithmetic.select(arithmetic)
        progress.log(
            "run \(directory): model \(modelArgument), traits \(packs.map(\.name).joined(separator: ", ")), arithmetic \(arithmetic.rawValue)"
                + (options.arithmetic.chosen == nil && stored != nil ? " (the run's; --exact or --fast changes it)" : ""))
        let model = try LanguageModel(modelArgument)
        let engine = try RunOptions.makeEngine(engineSetting, model: model)
        if let engine {
            progress.log(
                "answers from \(engine.identity); activations from \(modelArgument) here; steered answers \(engine.steers ? "from the server (persona serve, same weights)" : "generated here")"
            )
        }
        let judgeSetting = JudgeSetting.resolve(plugin: run.judge, configuration: run.judgeConfig, stored: stored?.judgeSetting)
        let judge = needsJudge ? try PipelineEnvironment.loadJudge(name: judgeSetting.plugin, config: judgeSetting.configuration, model: model) : nil
        if let judge, run.judge == nil, run.judgeConfig == nil {
            try JudgeSetting.checkRestored(identity: judge.cacheIdentity, recorded: stored?.judge, plugin: judgeSetting.plugin, run: directory)
        }
        let pipeline = try Pipeline(model: model, runDirectory: directory, judge: judge, settings: settings, progress: progress, engine: engine)
        pipeline.modelArgument = modelArgument
        pipeline.engineSetting = engineSetting
        if judge != nil { pipeline.judgeSetting = judgeSetting }
        pipeline.recordRunWhenStageStarts(packs: packs)
        return PipelineContext(pipeline: pipeline, packs: packs)
    }

    /// One line per stage report of this invocation (stderr).
    func logReports() {
        for r in pipeline.reports {
            printError("\(r.stage) \(r.trait): \(r.computed) computed, \(r.reused) reused")
        }
    }
}

/// A score or other number for display ("-" when absent).
func format(_ x: Double?, digits: Int = 1) -> String { x.map { String(format: "%.\(digits)f", $0) } ?? "-" }
