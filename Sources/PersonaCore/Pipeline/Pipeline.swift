// The persona-vector pipeline (DESIGN.md, steps 1–7): one object holding the model, the run store,
// the judge and the settings; one method per stage (generate, judge, filter, extract, steer,
// monitor, geometry), each usable alone. Stages find their inputs in the store by cache key and
// store every output as soon as it exists, so any stage can be re-run or resumed after a crash and
// computes only what is missing.
//
// This file holds what the stages share: batched generation with activation capture, judging,
// the run's record in the store. The stages are in the other files of this folder.
import Crypto
import Foundation
import PersonaModel
import PersonaTensor

/// What the store remembers about a trait's latest results (the report reads it).
public struct TraitState: Codable, Equatable, Sendable {
    public var packHash: String
    public var pairsTotal: Int?
    public var filterKey: String?
    public var vectorKeys: [String: String] = [:]
    public var method: String?
    public var steeringLayer: Int?
    public var steeringResultKeys: [String] = []
    public var sweepResultKeys: [String] = []
    public var bestLayer: Int?
    public var monitorVectorKey: String?
    public var monitorLayer: Int?
    public var promptLastCorrelation: Double?
    /// Steered answers at the lowest, zero and highest coefficient (report examples).
    public var exampleAnswerKeys: [String] = []
    /// The behavioural measure's results at the steering layer, in coefficient order.
    public var behaviorResultKeys: [String]?
    /// How well the judge separates positive- from negative-prompted extraction answers.
    public var judgeQuality: JudgeQuality?
    /// The steering search's results (run_info `search.KEY`), one per source, and its choice.
    public var searchResultKeys: [String]?
    public var searchChoice: SearchChoice?
    /// The judged steered answers at the search's choice (a steering result whose coefficient is raw).
    public var chosenResultKey: String?
    /// Mean judged trait and coherence of the positive-prompted answers to the evaluation questions.
    public var promptingBaseline: PromptingBaseline?
    public init(packHash: String) { self.packHash = packHash }
}

/// Steering against prompting (as AxBench reports it): the judged scores of the answers to the
/// evaluation questions under the positive system prompt.
public struct PromptingBaseline: Codable, Equatable, Sendable {
    public var meanTrait: Double?
    public var meanCoherence: Double?
    public var answerCount: Int
    public init(meanTrait: Double?, meanCoherence: Double?, answerCount: Int) {
        self.meanTrait = meanTrait; self.meanCoherence = meanCoherence; self.answerCount = answerCount
    }
}

/// What the store remembers about the run itself.
public struct RunInfo: Codable, Equatable, Sendable {
    public var name: String
    public var model: String
    public var modelFingerprint: String
    public var layerCount: Int
    public var judge: String
    public var createdAt: String
    public var settings: PipelineSettings
    public var traits: [String]
    /// What the user named the model with (path or default name), so later stages can reopen it.
    public var modelArgument: String?
    /// Where each trait's pack came from (folder, file or library), so later stages can reload it.
    public var packSources: [String: String]?
    /// Where answers are generated (nil in runs made before `--engine`: local).
    public var engine: EngineSetting?
    /// How the judge was loaded (nil in runs made before it was stored), so a later stage reloads
    /// the same judge instead of a default one with another cache identity.
    public var judgeSetting: JudgeSetting? = nil
}

/// Which autorater plugin judges a run, with its JSON configuration.
public struct JudgeSetting: Codable, Equatable, Sendable {
    public var plugin: String
    public var configuration: String?
    public init(plugin: String, configuration: String? = nil) { self.plugin = plugin; self.configuration = configuration }

    public static let defaultPlugin = "local-judge"

    /// Given options over the stored setting over local-judge. A configuration alone keeps the
    /// stored plugin; another plugin alone drops the stored configuration (it was that plugin's).
    public static func resolve(plugin: String?, configuration: String?, stored: JudgeSetting?) -> JudgeSetting {
        let name = plugin ?? stored?.plugin ?? defaultPlugin
        if let configuration { return JudgeSetting(plugin: name, configuration: configuration) }
        if let stored, stored.plugin == name { return stored }
        return JudgeSetting(plugin: name)
    }

    /// Checks a judge restored from the run (no judge option given) against the judge the run
    /// recorded: a different cache identity would re-judge every answer and overwrite the record.
    public static func checkRestored(identity: String, recorded: String?, plugin: String, run: String) throws {
        guard let recorded, !recorded.isEmpty, recorded != identity else { return }
        throw PipelineError.judgeChanged(run: run, recorded: recorded, plugin: plugin, found: identity)
    }
}

/// The pipeline over one model, one run store and (for the judging stages) one judge.
public final class Pipeline {
    public let model: LanguageModel
    public let store: RunStore
    public let judge: Autorater?
    /// Where answers are generated (nil: this model, here).
    public let engine: AnswerEngine?
    public let settings: PipelineSettings
    public let progress: PipelineProgress
    public let runDirectory: String
    /// Identifies this invocation in the store's stage log.
    public let invocation = UUID().uuidString
    /// What every stage of this invocation computed and reused, in order.
    public private(set) var reports: [StageReport] = []
    /// The steering ablation, once made or read (AblationStage.swift).
    var ablationCache: SteeringAblation?
    /// The request set `--ablate refusal` makes the refusal direction from (relative paths from the
    /// working directory).
    public var refusalRequestSetPath = RequestContrastSet.defaultPath
    /// The rows the refusal direction's layer is chosen from (nil: RefusalDirection's default band,
    /// the middle three fifths of the blocks). Tests narrow it to save passes; it is in the key.
    var refusalCandidateLayers: [Int]? = nil

    /// Opens (or creates) the run in `runDirectory`.
    public init(
        model: LanguageModel, runDirectory: String, judge: Autorater?, settings: PipelineSettings,
        progress: PipelineProgress = SilentProgress(), engine: AnswerEngine? = nil
    ) throws {
        try settings.validate()
        let layerCount = model.config.layerCount
        for l in [settings.steeringLayer(layerCount: layerCount)] + settings.sweepLayers where !(0..<layerCount).contains(l) {
            throw PipelineError.layerOutOfRange(layer: l, layerCount: layerCount)
        }
        self.model = model
        self.judge = judge
        self.engine = engine
        self.settings = settings
        self.progress = progress
        self.runDirectory = runDirectory
        self.store = try RunStore(path: RunStore.databasePath(runDirectory: runDirectory))
    }

    var fingerprint: String { model.fingerprint }
    /// The model's part of every cache key: its fingerprint, and its arithmetic when it computes in
    /// integers (`LanguageModel.computeIdentity`). Records name the weights by `fingerprint`.
    var modelKey: String { model.computeIdentity }
    var layerCount: Int { model.config.layerCount }

    /// What the user named the model with (recorded in the run).
    public var modelArgument: String?
    /// How the user chose the engine (recorded in the run; nil keeps the recorded one).
    public var engineSetting: EngineSetting?
    /// How the judge was loaded (recorded in the run with the judge; nil keeps the recorded one
    /// while the judge's identity is the recorded one).
    public var judgeSetting: JudgeSetting?
    /// The run record a stage writes once it has checked its inputs (`recordRunWhenStageStarts`).
    var pendingRunRecord: (traits: [String], sources: [String: String])?

    /// Records the run when a stage has checked its inputs and starts to store results, so a
    /// stage that refuses to run (missing inputs, wrong judge) leaves the run's record as it was.
    public func recordRunWhenStageStarts(packs: [LoadedPack]) {
        pendingRunRecord = (packs.map(\.name), Dictionary(packs.map { ($0.name, $0.source) }, uniquingKeysWith: { a, _ in a }))
    }

    func recordPendingRun() throws {
        guard let pending = pendingRunRecord else { return }
        pendingRunRecord = nil
        try recordRun(traits: pending.traits, sources: pending.sources)
    }

    /// Records the run's identity and settings (the report reads them).
    public func recordRun(packs: [LoadedPack]) throws {
        try recordRun(traits: packs.map(\.name), sources: Dictionary(packs.map { ($0.name, $0.source) }, uniquingKeysWith: { a, _ in a }))
    }

    /// Records the run's identity and settings with trait names only.
    public func recordRun(traits: [String], sources: [String: String] = [:]) throws {
        let previous = try store.info("run", as: RunInfo.self)
        let formatter = ISO8601DateFormatter()
        // The arithmetic recorded is the one the model computes with (a resumed run selects it).
        var settings = settings
        let used = model.transformer.effectiveArithmetic
        if settings.runArithmetic != used { settings.arithmetic = used }
        let info = RunInfo(
            name: URL(fileURLWithPath: runDirectory).lastPathComponent, model: model.displayName, modelFingerprint: fingerprint,
            layerCount: layerCount, judge: judge?.cacheIdentity ?? previous?.judge ?? "",
            createdAt: previous?.createdAt ?? formatter.string(from: Date()), settings: settings,
            traits: Array(Set(traits + (previous?.traits ?? []))).sorted(),
            modelArgument: modelArgument ?? previous?.modelArgument,
            packSources: (previous?.packSources ?? [:]).merging(sources) { _, new in new },
            engine: engineSetting ?? previous?.engine,
            judgeSetting: judgeSetting ?? (judge == nil || judge?.cacheIdentity == previous?.judge ? previous?.judgeSetting : nil))
        try store.setInfo("run", json: info)
    }

    func state(_ pack: LoadedPack) throws -> TraitState {
        if let s = try store.traitState(pack.name), s.packHash == pack.contentHash { return s }
        return TraitState(packHash: pack.contentHash)
    }

    func save(_ state: TraitState, _ pack: LoadedPack) throws { try store.save(traitState: state, trait: pack.name) }

    func record(_ report: StageReport) throws {
        try recordPendingRun()
        reports.append(report)
        try store.log(invocation: invocation, stage: report.stage, trait: report.trait, computed: report.computed, reused: report.reused)
    }

    /// "You are a/an {name} assistant. {instruction}"
    public static func systemPrompt(assistantName name: String, instruction: String) -> String {
        let article = name.first.map { "aeiouAEIOU".contains($0) } == true ? "an" : "a"
        return "You are \(article) \(name) assistant. \(instruction)"
    }

    // MARK: generation

    /// One answer to generate (or find in the store).
    struct GenerationItem {
        var record: AnswerRecord  // answer fields are filled after generation
        var user: String
        var system: String?
        var maxTokens: Int
        var sampling: SamplingParameters
        /// nil: no steering; coefficient 0 is treated as none (bit-identical by contract).
        var steering: SteeringSpec?
        /// Generated by `engine` (its identity is in the key), not by the local model.
        var remote = false
        /// Generated with the run's steering ablation (`--ablate`; its key is in the item's key).
        var ablated = false
    }

    /// Generates every item not already stored, batch by batch, capturing activations during
    /// generation and committing each batch as it finishes. Returns (computed, reused).
    @discardableResult
    func generateMissing(_ items: [GenerationItem], stage: String, trait: String) throws -> (computed: Int, reused: Int) {
        var seen = Set<String>()
        let unique = items.filter { seen.insert($0.record.key).inserted }
        let stored = try store.answers(keys: unique.map(\.record.key))
        let missing = unique.filter { stored[$0.record.key] == nil }
        try recordPendingRun()
        guard !missing.isEmpty else { return (0, unique.count) }

        progress.begin(stage: stage, trait: trait, total: missing.count, tokenBudget: missing.map(\.maxTokens).reduce(0, +))
        defer { progress.end() }
        var done = 0, tokens = 0
        let remote = missing.filter(\.remote)
        if !remote.isEmpty {
            guard let engine else { throw PipelineError.engineFailed(engine: "none", reason: "remote items without an engine") }
            let (stored, failures) = try generateRemotely(remote, engine: engine, done: &done)
            if !failures.isEmpty {
                let reasons = Dictionary(failures.map { ($0, 1) }, uniquingKeysWith: +).sorted { $0.value > $1.value }
                progress.warn(
                    "\(trait): \(failures.count) of \(remote.count) requests to \(engine.identity) failed (\(reasons.prefix(3).map { "\($0.key): \($0.value)" }.joined(separator: "; "))); \(stored) answers stored, re-run to ask again"
                )
                throw PipelineError.engineFailed(
                    engine: engine.identity,
                    reason:
                        "\(failures.count) of \(remote.count) requests failed, first: \(failures[0]); the \(stored) answers that came back are stored, re-run to ask for the rest"
                )
            }
        }
        // Items that share a steering intervention run together (a hook applies to the whole batch).
        var groups: [String: [GenerationItem]] = [:]
        var order: [String] = []
        for item in missing where !item.remote {
            let g = (item.steering.map { "\($0.layer)/\($0.coefficient)/\($0.positions.rawValue)" } ?? "-") + (item.ablated ? "/ablated" : "")
            if groups[g] == nil { order.append(g) }
            groups[g, default: []].append(item)
        }
        let generator = model.makeGenerator(maxBatchSize: settings.batchSize)
        generator.feedFinalToken = true  // capture sees every response token
        let ablationHooks: [LayerHook] = missing.contains(where: \.ablated) ? try steeringAblation()?.hooks ?? [] : []
        for g in order {
            for batch in (groups[g] ?? []).chunked(settings.batchSize) {
                let batch = Array(batch)
                let capture = ActivationCaptureHook(config: model.config)
                var requests: [GenerationRequest] = []
                var promptTexts: [String] = []
                for (i, item) in batch.enumerated() {
                    var messages: [ChatMessage] = []
                    if let s = item.system { messages.append(ChatMessage(role: "system", content: s)) }
                    messages.append(ChatMessage(role: "user", content: item.user))
                    let text = try model.renderChat(messages)
                    let ids = model.tokenizer.encode(text)
                    capture.expect(id: i, promptLength: ids.count)
                    promptTexts.append(text)
                    requests.append(GenerationRequest(promptTokens: ids, maxNewTokens: item.maxTokens, sampling: item.sampling, stopTokens: model.stopTokens))
                }
                // Steering, then the ablation at the same block, then the capture (it sees the ablated stream).
                var hooks: [LayerHook] = []
                if let spec = batch[0].steering, spec.coefficient != 0 { hooks.append(try SteeringHook([spec], config: model.config)) }
                if batch[0].ablated { hooks += ablationHooks }
                hooks.append(capture)
                let results = try model.transformer.withHooks(hooks) {
                    try generator.generate(requests) { _, _ in
                        tokens += 1
                        if tokens % 16 == 0 { self.progress.advance(done: done, tokens: tokens) }
                    }
                }
                var rows: [(AnswerRecord, ActivationSummary?)] = []
                for (i, item) in batch.enumerated() {
                    let result = results[i]
                    var r = item.record
                    r.promptText = promptTexts[i]
                    r.answer = result.text ?? ""
                    r.promptTokenCount = result.promptTokens.count
                    r.responseTokenCount = result.responseTokens.count
                    r.stopReason = result.stopReason.rawValue
                    rows.append((r, capture.summary(for: i)))
                }
                try store.insert(answers: rows)  // one transaction per finished batch
                done += rows.count
                progress.advance(done: done, tokens: tokens)
            }
        }
        return (missing.count, unique.count - missing.count)
    }

    // MARK: judging

    static let coherencePromptHash = String(SHA256.hex(Data(CoherencePrompt.text.utf8)).prefix(16))

    /// The cache key of one score.
    func scoreKey(answerKey: String, kind: ScoreKind, evalPrompt: String, judge: Autorater) -> String {
        let promptHash = kind == .coherence ? Self.coherencePromptHash : String(SHA256.hex(Data(evalPrompt.utf8)).prefix(16))
        return CacheKey.make(["score-v1", answerKey, kind.rawValue, promptHash, judge.cacheIdentity])
    }

    /// The cache key of a score when the judge is known only by its cache identity (report, filter lookups).
    static func scoreKey(answerKey: String, kind: ScoreKind, evalPrompt: String, judgeIdentity: String) -> String {
        let promptHash = kind == .coherence ? coherencePromptHash : String(SHA256.hex(Data(evalPrompt.utf8)).prefix(16))
        return CacheKey.make(["score-v1", answerKey, kind.rawValue, promptHash, judgeIdentity])
    }

    func requireJudge(_ stage: String) throws -> Autorater {
        guard let judge else { throw PipelineError.noJudge(stage: stage) }
        return judge
    }

    /// Scores (trait and coherence) every answer that lacks them, committing every chunk as it
    /// comes back. Returns (computed, reused) counted in scores.
    @discardableResult
    func judgeMissing(_ answers: [AnswerRecord], pack: LoadedPack, stage: String) throws -> (computed: Int, reused: Int) {
        let judge = try requireJudge(stage)
        struct Job { let key: String; let answer: AnswerRecord; let kind: ScoreKind }
        var jobs: [Job] = []
        for a in answers {
            for kind in ScoreKind.allCases {
                jobs.append(Job(key: scoreKey(answerKey: a.key, kind: kind, evalPrompt: pack.pack.evalPrompt, judge: judge), answer: a, kind: kind))
            }
        }
        let stored = try store.scores(keys: jobs.map(\.key))
        let missing = jobs.filter { stored[$0.key] == nil }
        try recordPendingRun()
        guard !missing.isEmpty else { return (0, jobs.count) }
        progress.begin(stage: stage, trait: pack.name, total: missing.count, tokenBudget: 0)
        defer { progress.end() }
        var done = 0
        // Chunks of twice the decode batch: each chunk is committed as it comes back, and the
        // judge's cached prompt beginnings are forgotten before each (PluginInstance: a resumed run
        // scores a chunk as an uninterrupted one did), so a chunk pays for its eval prompts'
        // shared beginnings once — a stage of 10 answers (20 scores) at batch 16 is one chunk.
        for chunk in missing.chunked(max(2 * settings.batchSize, 2)) {
            let chunk = Array(chunk)
            let requests = chunk.map {
                JudgeRequest(
                    question: $0.answer.question, answer: $0.answer.answer,
                    evalPrompt: $0.kind == .trait ? pack.pack.evalPrompt : CoherencePrompt.text)
            }
            let base = done
            let results = try judge.score(requests) { self.progress.advance(done: base + $0, tokens: 0) }
            guard results.count == chunk.count else {
                throw AutoraterResultError.wrongCount(judge: judge.name, expected: chunk.count, found: results.count)
            }
            try store.insert(
                scores: zip(chunk, results).map { job, r in
                    ScoreRecord(
                        key: job.key, answerKey: job.answer.key, kind: job.kind, score: r.score.map { min(max($0, 0), 100) },
                        noScoreReason: r.score == nil ? (r.noScoreReason ?? "no score") : nil, numberMass: r.numberMass,
                        judge: judge.cacheIdentity)
                })
            done += chunk.count
            progress.advance(done: done, tokens: 0)
        }
        return (missing.count, jobs.count - missing.count)
    }

    /// Trait and coherence scores of answers, by answer key (nil entries when absent).
    func scores(of answers: [AnswerRecord], pack: LoadedPack, judgeIdentity: String) throws -> [String: (trait: ScoreRecord?, coherence: ScoreRecord?)] {
        var keys: [String: (String, String)] = [:]
        for a in answers {
            keys[a.key] = (
                Self.scoreKey(answerKey: a.key, kind: .trait, evalPrompt: pack.pack.evalPrompt, judgeIdentity: judgeIdentity),
                Self.scoreKey(answerKey: a.key, kind: .coherence, evalPrompt: pack.pack.evalPrompt, judgeIdentity: judgeIdentity)
            )
        }
        let stored = try store.scores(keys: keys.values.flatMap { [$0.0, $0.1] })
        return keys.mapValues { (trait: stored[$0.0], coherence: stored[$0.1]) }
    }

    /// The judge identity filters and reports use: the current judge's, or the run's recorded one.
    func judgeIdentity() throws -> String {
        if let judge { return judge.cacheIdentity }
        if let info = try store.info("run", as: RunInfo.self), !info.judge.isEmpty { return info.judge }
        throw PipelineError.notJudged(run: runDirectory)
    }
}

/// An autorater broke its contract.
public enum AutoraterResultError: Error, CustomStringConvertible, Equatable {
    case wrongCount(judge: String, expected: Int, found: Int)
    public var description: String {
        switch self {
        case let .wrongCount(judge, expected, found): return "judge \(judge) returned \(found) results for \(expected) requests"
        }
    }
}
