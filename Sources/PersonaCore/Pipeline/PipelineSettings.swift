// The parameters of a pipeline run, its errors and its progress seam. Every field that changes a
// stage's output goes into that stage's cache keys (see the stages); fields that only change how
// fast things run (`batchSize`) do not.
import Foundation
import PersonaModel
import PersonaTensor

/// How a trait vector is computed from the kept answers' activations.
public enum VectorMethod: String, Codable, Sendable, CaseIterable {
    /// Mean over response tokens (the reference's default).
    case responseAvg = "response_avg"
    /// Mean over prompt tokens.
    case promptAvg = "prompt_avg"
    /// The last prompt token.
    case promptLast = "prompt_last"
}

/// Every parameter of a pipeline run.
public struct PipelineSettings: Codable, Equatable, Sendable {
    /// Extraction questions per trait (nil = all of the pack's).
    public var questions: Int?
    /// Evaluation questions per trait for steering and monitoring (nil = as many as `questions`, or all).
    public var evaluationQuestions: Int?
    /// Sampled answers per (question, instruction, polarity).
    public var samples = 1
    public var maxTokens = 128
    public var temperature = 1.0
    public var topP = 1.0
    public var seed: UInt64 = 0
    /// Sequences decoded together (speed only).
    public var batchSize = 16
    /// Filter: positive trait ≥ T, negative trait < 100 − T.
    public var traitThreshold = 50.0
    /// Filter: both coherence ≥ C.
    public var coherenceThreshold = 50.0
    /// The vector steering and monitoring use.
    public var method: VectorMethod = .responseAvg
    public var coefficients: [Double] = [-2, -1, 0, 1, 2, 3]
    /// The unit of `coefficients` (nil = raw; optional so that run stores written before it still decode).
    /// `.norm`: c adds c · meanNorm_L · v̂_L (Steering/CoefficientUnits.swift).
    public var coefficientUnit: CoefficientUnit?
    /// Steering / monitoring layer (nil = ⌊layers / 2⌋).
    public var layer: Int?
    /// Layers to sweep (empty = no sweep).
    public var sweepLayers: [Int] = []
    public var positions: SteeringPositions = .response
    /// Steered and monitoring answers: 0 = greedy.
    public var steerTemperature = 0.0
    /// Steered and monitoring answers' length (nil = `maxTokens`).
    public var steerMaxTokens: Int?
    /// Vector sources the steering search compares (`prompted`, `written`; nil or empty = no search).
    /// The search's fields are optional so that run stores written before it still decode.
    public var searchSources: [String]?
    /// Layers the search covers (nil = every third block from a sixth to five sixths of the depth).
    public var searchLayers: [Int]?
    /// Coefficients the search covers, in norm units (nil = -0.2, 0, 0.1, 0.2, 0.3, 0.5).
    public var searchCoefficients: [Double]?
    /// The search's coherence floor: the largest KL per token a chosen point may cost (nil = 0.5 nats).
    public var searchMaxKL: Double?
    /// A projection ablation held while the run steers (steered answers and their baseline, the
    /// search, the behavioural measure): `refusal` = the run's refusal direction at every block
    /// (Pipeline/AblationStage.swift); nil = none.
    public var ablate: String?
    /// The arithmetic the run's model and judge compute with (DESIGN.md, "Arithmetic: exact and
    /// fast"); nil = exact, what every run stored before the fast arithmetic existed used. The
    /// command line chooses it before it loads the models (a new run takes `Arithmetic.default`);
    /// the stages' cache keys follow the model's own arithmetic (`LanguageModel.computeIdentity`).
    public var arithmetic: Arithmetic?
    /// `arithmetic`, nil read as exact (the one place that reading lives).
    public var runArithmetic: Arithmetic { arithmetic ?? .exact }

    public init() {}

    /// Checks ranges; the message names the option.
    public func validate() throws {
        func bad(_ field: String, _ value: Any, _ expected: String) -> PipelineError { .badSetting(field: field, value: "\(value)", expected: expected) }
        if let q = questions, q < 1 { throw bad("questions", q, "≥ 1") }
        if let q = evaluationQuestions, q < 1 { throw bad("evaluation questions", q, "≥ 1") }
        guard samples >= 1 else { throw bad("samples", samples, "≥ 1") }
        guard maxTokens >= 1 else { throw bad("max-tokens", maxTokens, "≥ 1") }
        guard temperature >= 0, temperature.isFinite else { throw bad("temperature", temperature, "≥ 0") }
        guard topP > 0, topP <= 1 else { throw bad("top-p", topP, "in (0, 1]") }
        guard batchSize >= 1, batchSize <= 256 else { throw bad("batch-size", batchSize, "1…256") }
        guard (0...100).contains(traitThreshold) else { throw bad("trait-threshold", traitThreshold, "0…100") }
        guard (0...100).contains(coherenceThreshold) else { throw bad("coherence-threshold", coherenceThreshold, "0…100") }
        guard !coefficients.isEmpty, coefficients.allSatisfy(\.isFinite) else { throw bad("coeffs", coefficients, "finite numbers, at least one") }
        guard steerTemperature >= 0, steerTemperature.isFinite else { throw bad("steer-temperature", steerTemperature, "≥ 0") }
        if let m = steerMaxTokens, m < 1 { throw bad("steer-max-tokens", m, "≥ 1") }
        for source in searchSources ?? [] where !["prompted", "written"].contains(source) { throw bad("search", source, "prompted or written") }
        if let c = searchCoefficients, c.isEmpty || !c.allSatisfy(\.isFinite) { throw bad("search-coeffs", c, "finite numbers, at least one") }
        if let k = searchMaxKL, !(k > 0 && k.isFinite) { throw bad("max-kl", k, "> 0") }
        if let a = ablate, a != "refusal" { throw bad("ablate", a, "refusal") }
    }

    /// The steering layer for a model.
    public func steeringLayer(layerCount: Int) -> Int { layer ?? layerCount / 2 }
    var steeringMaxTokens: Int { steerMaxTokens ?? maxTokens }
}

public enum PipelineError: Error, CustomStringConvertible, Equatable {
    case badSetting(field: String, value: String, expected: String)
    case missing(stage: String, trait: String, what: String, count: Int, run: String)
    case noPairsKept(trait: String, total: Int, reasons: [String: Int])
    case noJudge(stage: String)
    case notJudged(run: String)
    case layerOutOfRange(layer: Int, layerCount: Int)
    case noVector(trait: String, method: String)
    case packTooSmall(trait: String, field: String, count: Int, needed: Int)
    case storeMismatch(path: String, field: String, stored: String, now: String)
    case engineFailed(engine: String, reason: String)
    case judgeChanged(run: String, recorded: String, plugin: String, found: String)

    public var description: String {
        switch self {
        case let .badSetting(field, value, expected): return "--\(field) \(value): expected \(expected)"
        case let .missing(stage, trait, what, count, run):
            return "\(trait): \(count) \(what) missing from the run store: run `persona stage \(stage) --run \(run)` (or `persona run`) first"
        case let .noPairsKept(trait, total, reasons):
            let why = reasons.sorted { $0.value > $1.value }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
            return "\(trait): none of \(total) pairs survived filtering (\(why)); use more --questions or --samples, or lower the thresholds"
        case let .noJudge(stage): return "the \(stage) stage needs a judge (--judge)"
        case let .notJudged(run): return "nothing in \(run) has been judged yet: run `persona stage judge --run \(run)` first"
        case let .layerOutOfRange(layer, count): return "layer \(layer) is out of range: the model has blocks 0…\(count - 1)"
        case let .noVector(trait, method): return "\(trait): no \(method) vector in the run store: run `persona stage extract` first"
        case let .packTooSmall(trait, field, count, needed): return "trait pack \(trait): \(field) has \(count) entries, the run needs \(needed)"
        case let .storeMismatch(path, field, stored, now):
            return "\(path): this run was made with \(field) \(stored), not \(now); use another --out directory"
        case let .engineFailed(engine, reason): return "generation on \(engine) failed: \(reason)"
        case let .judgeChanged(run, recorded, plugin, found):
            return
                "\(run) was judged by \(recorded), but the judge loaded here (\(plugin)) is \(found): name the run's judge with --judge and --judge-config, or give them to judge again with another judge"
        }
    }
}

/// What a stage did: how many items it computed and how many it found already stored.
public struct StageReport: Equatable, Sendable {
    public var stage: String
    public var trait: String
    public var computed: Int
    public var reused: Int
    public init(stage: String, trait: String, computed: Int, reused: Int) {
        self.stage = stage; self.trait = trait; self.computed = computed; self.reused = reused
    }
}

/// Where a pipeline reports progress. The CLI draws bars on a terminal and prints lines otherwise.
public protocol PipelineProgress: AnyObject {
    /// A stage begins work on `total` items (those not already stored); `tokenBudget` is the most
    /// tokens they can generate (0 when the stage generates nothing), for an early ETA.
    func begin(stage: String, trait: String, total: Int, tokenBudget: Int)
    /// `done` items finished so far; `tokens` generated so far in this stage (0 when none).
    func advance(done: Int, tokens: Int)
    /// The stage's work ended.
    func end()
    /// An informational line.
    func log(_ message: String)
    /// Something the user should look at (few pairs kept, …).
    func warn(_ message: String)
}

/// Discards progress (library callers, tests).
public final class SilentProgress: PipelineProgress {
    public init() {}
    public func begin(stage: String, trait: String, total: Int, tokenBudget: Int) {}
    public func advance(done: Int, tokens: Int) {}
    public func end() {}
    public func log(_ message: String) {}
    public func warn(_ message: String) {}
}
