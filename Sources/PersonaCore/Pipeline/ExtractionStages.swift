// Stages 1–4: contrastive generation, judging, pair filtering and vector extraction.
//
// Cache keys: an extraction answer's key covers the model's identity (fingerprint and arithmetic:
// `Pipeline.modelKey`), the pack's content hash,
// the item's coordinates (question, instruction, polarity, sample), the length and sampling
// parameters and the run seed; a score's key covers the answer key, the eval prompt and the judge's
// cache identity; a filter run's key covers every answer and score key it read plus the
// thresholds; a vector's key covers the filter key and the method.
import Foundation
import PersonaModel

extension Pipeline {
    /// The extraction items of a pack under the current settings, in generation order
    /// (question-major, so a pair's two answers are generated close together).
    func extractionItems(_ pack: LoadedPack) throws -> [GenerationItem] {
        let p = pack.pack
        let questionCount = settings.questions ?? p.questions.extraction.count
        guard questionCount <= p.questions.extraction.count else {
            throw PipelineError.packTooSmall(trait: p.name, field: "questions.extraction", count: p.questions.extraction.count, needed: questionCount)
        }
        var items: [GenerationItem] = []
        for q in 0..<questionCount {
            for (i, pair) in p.instructions.enumerated() {
                for polarity in Polarity.allCases {
                    for s in 0..<settings.samples {
                        let system = Pipeline.systemPrompt(
                            assistantName: polarity == .pos ? p.positiveAssistantName : "helpful",
                            instruction: polarity == .pos ? pair.pos : pair.neg)
                        let seed = CacheKey.seed(["extraction-seed", String(settings.seed), p.name, "\(q)", "\(i)", polarity.rawValue, "\(s)"])
                        let remote = generatesRemotely(steeringStage: false)
                        let key = CacheKey.make(
                            [
                                "answer-v1", modelKey, pack.contentHash, "extraction", "\(q)", "\(i)", polarity.rawValue, "\(s)",
                                "\(settings.maxTokens)", CacheKey.number(settings.temperature), CacheKey.number(settings.topP),
                                String(settings.seed)
                            ] + engineKeyParts(remote: remote))
                        let record = AnswerRecord(
                            key: key, kind: .extraction, trait: p.name, questionIndex: q, question: p.questions.extraction[q],
                            instructionIndex: i, polarity: polarity, sampleIndex: s, systemPrompt: system, promptText: "",
                            answer: "", promptTokenCount: 0, responseTokenCount: 0, stopReason: "", seed: seed)
                        items.append(
                            GenerationItem(
                                record: record, user: p.questions.extraction[q], system: system, maxTokens: settings.maxTokens,
                                sampling: SamplingParameters(temperature: settings.temperature, topP: settings.topP, seed: seed),
                                steering: nil, remote: remote))
                    }
                }
            }
        }
        return items
    }

    /// The stored extraction answers, in item order; throws naming the stage to run when some are missing.
    func extractionAnswers(_ pack: LoadedPack, stage: String) throws -> [AnswerRecord] {
        let items = try extractionItems(pack)
        let stored = try store.answers(keys: items.map(\.record.key))
        let missing = items.filter { stored[$0.record.key] == nil }.count
        guard missing == 0 else {
            throw PipelineError.missing(stage: "generate", trait: pack.name, what: "extraction answers", count: missing, run: runDirectory)
        }
        return items.compactMap { stored[$0.record.key] }
    }

    // MARK: generate

    /// Stage 1: every extraction answer (question × instruction pair × polarity × sample), sampled
    /// and seeded per item, with activations captured during generation.
    @discardableResult
    public func generate(_ pack: LoadedPack) throws -> StageReport {
        let (computed, reused) = try generateMissing(try extractionItems(pack), stage: "generate", trait: pack.name)
        let report = StageReport(stage: "generate", trait: pack.name, computed: computed, reused: reused)
        try record(report)
        return report
    }

    // MARK: judge

    /// Stage 2: trait score (the pack's eval prompt) and coherence score of every extraction answer.
    @discardableResult
    public func judgeAnswers(_ pack: LoadedPack) throws -> StageReport {
        let answers = try extractionAnswers(pack, stage: "judge")
        let (computed, reused) = try judgeMissing(answers, pack: pack, stage: "judge")
        let report = StageReport(stage: "judge", trait: pack.name, computed: computed, reused: reused)
        try record(report)
        return report
    }

    // MARK: filter

    /// The result of the filter stage.
    public struct FilterOutcome: Equatable, Sendable {
        public var filterKey: String
        public var decisions: [PairDecision]
        /// How well the judge separated the positive from the negative answers.
        public var judgeQuality: JudgeQuality? = nil
        public var kept: Int { decisions.filter(\.kept).count }
        /// Dropped pairs per reason.
        public var dropReasons: [String: Int] {
            decisions.compactMap(\.reason).reduce(into: [:]) { $0[$1, default: 0] += 1 }
        }
    }

    /// The decision for one pair under thresholds `T` (trait) and `C` (coherence), before the pack's
    /// own filters. Reasons are categories (counted in reports), the values stay in the store.
    public static func thresholdDropReason(
        _ pair: CandidatePair, positiveTokens: Int, negativeTokens: Int,
        traitThreshold t: Double, coherenceThreshold c: Double,
        noScoreReasons: [String: String] = [:]
    ) -> String? {
        if positiveTokens == 0 { return "empty positive answer" }
        if negativeTokens == 0 { return "empty negative answer" }
        func fmt(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(x) }
        guard let pt = pair.positiveTrait else { return "positive trait: no score" + (noScoreReasons["pos.trait"].map { " (\($0))" } ?? "") }
        guard let nt = pair.negativeTrait else { return "negative trait: no score" + (noScoreReasons["neg.trait"].map { " (\($0))" } ?? "") }
        guard let pc = pair.positiveCoherence else { return "positive coherence: no score" + (noScoreReasons["pos.coherence"].map { " (\($0))" } ?? "") }
        guard let nc = pair.negativeCoherence else { return "negative coherence: no score" + (noScoreReasons["neg.coherence"].map { " (\($0))" } ?? "") }
        if pt < t { return "positive trait < \(fmt(t))" }
        if nt >= 100 - t { return "negative trait ≥ \(fmt(100 - t))" }
        if pc < c { return "positive coherence < \(fmt(c))" }
        if nc < c { return "negative coherence < \(fmt(c))" }
        return nil
    }

    /// The filter key and candidate pairs of a pack (every score must be stored).
    func candidatePairs(_ pack: LoadedPack) throws -> (key: String, pairs: [(CandidatePair, AnswerRecord, AnswerRecord, [String: String])]) {
        let answers = try extractionAnswers(pack, stage: "filter")
        let identity = try judgeIdentity()
        let scores = try scores(of: answers, pack: pack, judgeIdentity: identity)
        let unscored = answers.filter { scores[$0.key]?.trait == nil || scores[$0.key]?.coherence == nil }.count
        guard unscored == 0 else {
            throw PipelineError.missing(stage: "judge", trait: pack.name, what: "judged answers", count: unscored, run: runDirectory)
        }
        var keyParts = ["filter-v1", pack.contentHash, CacheKey.number(settings.traitThreshold), CacheKey.number(settings.coherenceThreshold), identity]
        struct Coordinate: Hashable { var question: Int, instruction: Int, sample: Int }
        var negatives: [Coordinate: AnswerRecord] = [:]
        for a in answers {
            if a.polarity == .neg, let i = a.instructionIndex {
                negatives[Coordinate(question: a.questionIndex, instruction: i, sample: a.sampleIndex)] = a
            }
            keyParts.append(a.key)
        }
        var pairs: [(CandidatePair, AnswerRecord, AnswerRecord, [String: String])] = []
        for a in answers where a.polarity == .pos {
            guard let instruction = a.instructionIndex,
                let n = negatives[Coordinate(question: a.questionIndex, instruction: instruction, sample: a.sampleIndex)]
            else { continue }
            let ps = scores[a.key], ns = scores[n.key]
            var reasons: [String: String] = [:]
            reasons["pos.trait"] = ps?.trait?.noScoreReason; reasons["neg.trait"] = ns?.trait?.noScoreReason
            reasons["pos.coherence"] = ps?.coherence?.noScoreReason; reasons["neg.coherence"] = ns?.coherence?.noScoreReason
            pairs.append(
                (
                    CandidatePair(
                        question: a.question, instructionIndex: instruction, sampleIndex: a.sampleIndex,
                        positiveAnswer: a.answer, negativeAnswer: n.answer,
                        positiveTrait: ps?.trait?.score, negativeTrait: ns?.trait?.score,
                        positiveCoherence: ps?.coherence?.score, negativeCoherence: ns?.coherence?.score), a, n, reasons
                ))
            // Scores are part of the key: a re-judged answer gives another filter run.
            keyParts += [ps?.trait?.key ?? "", ps?.coherence?.key ?? "", ns?.trait?.key ?? "", ns?.coherence?.key ?? ""]
        }
        return (CacheKey.make(keyParts), pairs)
    }

    /// Stage 3: keep pairs where positive trait ≥ T, negative trait < 100 − T and both answers are
    /// coherent (≥ C), then apply the pack's filters. Every dropped pair keeps its reason.
    @discardableResult
    public func filter(_ pack: LoadedPack) throws -> FilterOutcome {
        let (key, pairs) = try candidatePairs(pack)
        var st = try state(pack)
        let quality = JudgeQuality(
            positive: pairs.compactMap(\.0.positiveTrait), negative: pairs.compactMap(\.0.negativeTrait),
            coherence: pairs.flatMap { [$0.0.positiveCoherence, $0.0.negativeCoherence].compactMap { $0 } })
        st.judgeQuality = quality
        if let warning = quality.warning(trait: pack.name, judge: (try? judgeIdentity()) ?? "") { progress.warn("\(pack.name): " + warning) }
        if let stored = try store.decisions(filterKey: key) {
            try record(StageReport(stage: "filter", trait: pack.name, computed: 0, reused: stored.count))
            st.filterKey = key; st.pairsTotal = stored.count
            try save(st, pack)
            let outcome = FilterOutcome(filterKey: key, decisions: stored, judgeQuality: quality)
            warnIfFew(outcome, pack, pairs: pairs.map(\.0))
            return outcome
        }
        var decisions: [PairDecision] = []
        for (pair, pos, neg, reasons) in pairs {
            var reason = Self.thresholdDropReason(
                pair, positiveTokens: pos.responseTokenCount, negativeTokens: neg.responseTokenCount,
                traitThreshold: settings.traitThreshold, coherenceThreshold: settings.coherenceThreshold,
                noScoreReasons: reasons)
            if reason == nil {
                for f in pack.filters {
                    if let r = try f.dropReason(for: pair) { reason = "filter \(f.name): \(r)"; break }
                }
            }
            decisions.append(
                PairDecision(
                    questionIndex: pos.questionIndex, instructionIndex: pair.instructionIndex, sampleIndex: pos.sampleIndex,
                    positiveKey: pos.key, negativeKey: neg.key, kept: reason == nil, reason: reason))
        }
        try store.insert(filterKey: key, trait: pack.name, decisions: decisions)
        try record(StageReport(stage: "filter", trait: pack.name, computed: decisions.count, reused: 0))
        st.filterKey = key; st.pairsTotal = decisions.count
        try save(st, pack)
        let outcome = FilterOutcome(filterKey: key, decisions: decisions, judgeQuality: quality)
        progress.log("filter \(pack.name): kept \(outcome.kept) of \(decisions.count) pairs")
        warnIfFew(outcome, pack, pairs: pairs.map(\.0))
        return outcome
    }

    /// Warns when fewer than 5 pairs survive (none at all: extraction reports it, as
    /// `PipelineError.noPairsKept`, with the same reasons); below 3 it also says which side failed,
    /// with two example answers and their scores (`failureDiagnosis`).
    func warnIfFew(_ outcome: FilterOutcome, _ pack: LoadedPack, pairs: [CandidatePair]) {
        if outcome.kept < Self.fewPairs,
            let diagnosis = Self.failureDiagnosis(
                pairs, trait: pack.name, traitThreshold: settings.traitThreshold,
                coherenceThreshold: settings.coherenceThreshold)
        {
            progress.warn("\(pack.name): \(outcome.kept) of \(outcome.decisions.count) pairs kept. " + diagnosis)
        }
        guard outcome.kept < 5, outcome.kept > 0 else { return }
        let why = outcome.dropReasons.sorted { $0.value > $1.value }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
        progress.warn(
            "\(pack.name): only \(outcome.kept) of \(outcome.decisions.count) pairs survived filtering (\(why)); the vector will be noisy. Use more --questions or --samples, or lower --trait-threshold / --coherence-threshold."
        )
    }

    /// Fewer kept pairs than this get a diagnosis of which side failed.
    public static let fewPairs = 3

    /// Which side of the contrast failed — positive answers that do not show the trait, negative
    /// answers scored too high, or incoherent answers — with the two worst examples of the side that
    /// failed most and their scores, so a pack author can fix the instructions. nil when no pair
    /// failed on scores.
    public static func failureDiagnosis(_ pairs: [CandidatePair], trait: String, traitThreshold t: Double, coherenceThreshold c: Double) -> String? {
        let weakPositive = pairs.filter { ($0.positiveTrait ?? 100) < t }
        let highNegative = pairs.filter { ($0.negativeTrait ?? 0) >= 100 - t }
        let incoherent = pairs.filter { ($0.positiveCoherence ?? 100) < c || ($0.negativeCoherence ?? 100) < c }
        guard !(weakPositive.isEmpty && highNegative.isEmpty && incoherent.isEmpty) else { return nil }
        func clip(_ s: String) -> String {
            let flat = s.replacingOccurrences(of: "\n", with: " ")
            return flat.count > 160 ? String(flat.prefix(157)) + "…" : flat
        }
        func score(_ x: Double?) -> String { x.map { String(format: "%.0f", $0) } ?? "none" }
        let counts =
            "positive answers not showing the trait (trait < \(Int(t))): \(weakPositive.count); negative answers scored too high (trait ≥ \(Int(100 - t))): \(highNegative.count); incoherent (coherence < \(Int(c))): \(incoherent.count)"
        var lines: [String]
        if weakPositive.count >= highNegative.count && weakPositive.count >= incoherent.count {
            lines = [
                "Mostly the positive side failed: the \(trait)-prompted answers do not show the trait (make the positive instructions more direct, or check the judge)."
            ]
            for p in weakPositive.sorted(by: { ($0.positiveTrait ?? 0) < ($1.positiveTrait ?? 0) }).prefix(2) {
                lines.append(
                    "  positive (trait \(score(p.positiveTrait)), coherence \(score(p.positiveCoherence))) to \"\(clip(p.question))\": \"\(clip(p.positiveAnswer))\""
                )
            }
        } else if highNegative.count >= incoherent.count {
            lines = [
                "Mostly the negative side failed: the helpful-prompted answers are scored as showing the trait (check the negative instructions, or the judge)."
            ]
            for p in highNegative.sorted(by: { ($0.negativeTrait ?? 0) > ($1.negativeTrait ?? 0) }).prefix(2) {
                lines.append(
                    "  negative (trait \(score(p.negativeTrait)), coherence \(score(p.negativeCoherence))) to \"\(clip(p.question))\": \"\(clip(p.negativeAnswer))\""
                )
            }
        } else {
            lines = ["Mostly coherence failed: answers are judged incoherent (longer --max-tokens, or a lower --coherence-threshold)."]
            for p in incoherent.prefix(2) {
                let positive = (p.positiveCoherence ?? 100) < c
                lines.append(
                    "  \(positive ? "positive" : "negative") (coherence \(score(positive ? p.positiveCoherence : p.negativeCoherence))) to \"\(clip(p.question))\": \"\(clip(positive ? p.positiveAnswer : p.negativeAnswer))\""
                )
            }
        }
        return ([counts + "."] + lines).joined(separator: "\n")
    }

    // MARK: extract

    /// Per-layer mean over positive rows minus mean over negative rows ([layers][hidden]), in double precision.
    public static func meanDifference(positive: [[[Float]]], negative: [[[Float]]]) -> [[Float]] {
        guard let first = positive.first ?? negative.first else { return [] }
        let layers = first.count, hidden = first.first?.count ?? 0
        func mean(_ items: [[[Float]]]) -> [[Double]] {
            var sum = Array(repeating: Array(repeating: 0.0, count: hidden), count: layers)
            for item in items { for l in 0..<layers { for j in 0..<hidden { sum[l][j] += Double(item[l][j]) } } }
            let n = Double(max(items.count, 1))
            return sum.map { $0.map { $0 / n } }
        }
        let p = mean(positive), n = mean(negative)
        return (0..<layers).map { l in (0..<hidden).map { Float(p[l][$0] - n[l][$0]) } }
    }

    /// The key of a trait's vector for `method` under a filter run.
    static func vectorKey(filterKey: String, method: VectorMethod) -> String { CacheKey.make(["vector-v1", filterKey, method.rawValue]) }

    /// Where extract writes a trait's vector file.
    public func vectorFilePath(trait: String, method: VectorMethod) -> String {
        URL(fileURLWithPath: runDirectory).appendingPathComponent("vectors/\(trait)_\(method.rawValue).safetensors").path
    }

    /// Stage 4: one vector per method from the kept pairs' activations, saved in the store and as
    /// safetensors files `vectors/TRAIT_METHOD.safetensors` ([layers, hidden] float32).
    @discardableResult
    public func extract(_ pack: LoadedPack) throws -> [VectorMethod: VectorRecord] {
        try extract(pack, filtered: try filter(pack))
    }

    /// Extraction from a filter result the caller already has (`run` filters first for its summary).
    func extract(_ pack: LoadedPack, filtered outcome: FilterOutcome) throws -> [VectorMethod: VectorRecord] {
        let kept = outcome.decisions.filter(\.kept)
        guard !kept.isEmpty else { throw PipelineError.noPairsKept(trait: pack.name, total: outcome.decisions.count, reasons: outcome.dropReasons) }
        var st = try state(pack)
        var out: [VectorMethod: VectorRecord] = [:]
        var computed = 0, reused = 0
        var summaries: [String: ActivationSummary]? = nil
        for method in VectorMethod.allCases {
            let key = Self.vectorKey(filterKey: outcome.filterKey, method: method)
            var vector = try store.vector(key: key)
            if vector == nil {
                if summaries == nil {
                    var s: [String: ActivationSummary] = [:]
                    for k in kept.flatMap({ [$0.positiveKey, $0.negativeKey] }) {
                        guard let a = try store.activations(answerKey: k) else {
                            throw PipelineError.missing(stage: "generate", trait: pack.name, what: "activation summaries", count: 1, run: runDirectory)
                        }
                        s[k] = a
                    }
                    summaries = s
                }
                func rows(_ k: String) -> [[Float]] {
                    let a = summaries![k]!
                    switch method {
                    case .responseAvg: return a.responseMean
                    case .promptAvg: return a.promptMean
                    case .promptLast: return a.promptLast
                    }
                }
                let rowsOut = Self.meanDifference(positive: kept.map { rows($0.positiveKey) }, negative: kept.map { rows($0.negativeKey) })
                let v = VectorRecord(
                    key: key, trait: pack.name, method: method.rawValue, filterKey: outcome.filterKey, pairCount: kept.count,
                    rows: rowsOut, model: fingerprint)
                try store.insert(vector: v)
                vector = v
                computed += 1
            } else {
                reused += 1
            }
            guard let v = vector else { continue }
            let path = vectorFilePath(trait: pack.name, method: method)
            try FileManager.default.createDirectory(at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
            try TraitVectors(
                rows: v.rows,
                metadata: model.vectorMetadata([
                    "persona.trait": pack.name, "persona.method": method.rawValue,
                    "persona.pairs": String(v.pairCount), "persona.layers": "block-output"
                ])
            )
            .write(to: URL(fileURLWithPath: path))
            out[method] = v
            st.vectorKeys[method.rawValue] = key
        }
        st.method = settings.method.rawValue
        try save(st, pack)
        try record(StageReport(stage: "extract", trait: pack.name, computed: computed, reused: reused))
        return out
    }

    /// The trait's vector for the current settings' method, as the last extract recorded it in the
    /// trait's state: finding it reads no answers and no scores, so a stage that only needs the
    /// vector works whichever judge it was given. A vector from before the latest filter run, or
    /// of another model, is not the current one.
    func currentVector(_ pack: LoadedPack) throws -> VectorRecord {
        let st = try state(pack)
        guard let key = st.vectorKeys[settings.method.rawValue], let v = try store.vector(key: key), v.filterKey == st.filterKey else {
            throw PipelineError.noVector(trait: pack.name, method: settings.method.rawValue)
        }
        guard v.model == fingerprint else {
            throw PipelineError.storeMismatch(path: runDirectory, field: "model", stored: v.model, now: fingerprint)
        }
        return v
    }
}
