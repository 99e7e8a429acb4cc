// Stages 5–7: steering sweeps on the evaluation questions, monitoring by projection, and the
// geometry between traits' vectors.
//
// Cache keys: a steered answer's key covers the model, the pack, the vector's key, the layer, the
// coefficient, the positions, the question and the length/sampling parameters. Coefficient 0 is
// bit-identical to no steering (DESIGN.md), so all coefficient-0 answers share one key that names
// no vector or layer: they are the unsteered baseline, reused by every layer and by monitoring.
import Foundation
import PersonaModel

extension Pipeline {
    /// The evaluation questions the run uses.
    func evaluationQuestions(_ pack: LoadedPack) throws -> [String] {
        let all = pack.pack.questions.evaluation
        let n = settings.evaluationQuestions ?? settings.questions ?? all.count
        guard n <= all.count else { throw PipelineError.packTooSmall(trait: pack.name, field: "questions.evaluation", count: all.count, needed: n) }
        return Array(all.prefix(n))
    }

    func steerSampling(_ pack: LoadedPack, question: Int) -> SamplingParameters {
        SamplingParameters(
            temperature: settings.steerTemperature, topP: settings.topP,
            seed: CacheKey.seed(["steer-seed", String(settings.seed), pack.name, "\(question)"]))
    }

    var steerSamplingKey: [String] {
        ["\(settings.steeringMaxTokens)", CacheKey.number(settings.steerTemperature), CacheKey.number(settings.topP), String(settings.seed)]
    }

    /// The steered-answer items for one layer and coefficient.
    func steeredItems(_ pack: LoadedPack, vector: VectorRecord, layer: Int, coefficient: Double) throws -> [GenerationItem] {
        let raw = try rawCoefficient(coefficient, layer: layer, vector: vector, pack: pack)
        return try steeredItems(pack, vector: vector, layer: layer, coefficient: coefficient, unitKey: coefficientUnitKey, raw: raw)
    }

    /// The steered-answer items for one layer and `coefficient` as keyed and recorded (in the unit
    /// `unitKey` names; [] = raw), steering with `raw`. The search's choice is steered in raw units,
    /// so its answers share their keys with a raw-unit run's at the same point.
    func steeredItems(_ pack: LoadedPack, vector: VectorRecord, layer: Int, coefficient: Double, unitKey: [String], raw: Double) throws -> [GenerationItem] {
        let remote = generatesRemotely(steeringStage: true)
        let ablation = try steeringAblation()
        let ablationKey = ablation?.key ?? []
        return try evaluationQuestions(pack).enumerated().map { q, question in
            let sampling = steerSampling(pack, question: q)
            let key: String
            let spec: SteeringSpec?
            if coefficient == 0 {
                key = CacheKey.make(
                    ["answer-v1", modelKey, pack.contentHash, "baseline", "\(q)"] + steerSamplingKey + engineKeyParts(remote: remote)
                        + ablationKey)
                spec = nil
            } else {
                key = CacheKey.make(
                    [
                        "answer-v1", modelKey, pack.contentHash, "steered", "\(q)", vector.key, "\(layer)",
                        CacheKey.number(coefficient), settings.positions.rawValue
                    ] + unitKey + steerSamplingKey
                        + engineKeyParts(remote: remote) + ablationKey)
                spec = SteeringSpec(vector: vector.rows[layer], layer: layer, coefficient: Float(raw), positions: settings.positions)
            }
            let record = AnswerRecord(
                key: key, kind: .steered, trait: pack.name, questionIndex: q, question: question, instructionIndex: nil,
                polarity: nil, sampleIndex: 0, systemPrompt: nil, promptText: "", answer: "", promptTokenCount: 0,
                responseTokenCount: 0, stopReason: "", seed: sampling.seed,
                steeringLayer: coefficient == 0 ? nil : layer, coefficient: coefficient,
                vectorKey: coefficient == 0 ? nil : vector.key)
            return GenerationItem(
                record: record, user: question, system: nil, maxTokens: settings.steeringMaxTokens, sampling: sampling, steering: spec,
                remote: remote, ablated: ablation != nil)
        }
    }

    /// The outcome of the steering stage.
    public struct SteerOutcome: Equatable, Sendable {
        /// Points at the steering layer, by coefficient.
        public var points: [SteeringResultRecord]
        /// Points of every swept layer.
        public var sweep: [SteeringResultRecord]
        /// The swept layer whose steering moved the trait most while mean coherence stayed ≥ 50.
        public var bestLayer: Int?
        /// The judged answers at the search's choice (coefficient raw), when the search chose a point.
        public var chosen: SteeringResultRecord? = nil
    }

    /// Stage 5: steered answers at every coefficient on the evaluation questions, judged; with
    /// `sweepLayers`, the same at every swept layer, and the layer that moves the trait most while
    /// keeping mean coherence ≥ 50. With a search choice, also its point beside the unsteered
    /// baseline; when the trait kept no pairs (no prompted vector) but the search chose a written
    /// vector, only those two: the fixed sweep needs the prompted vector, the choice does not.
    @discardableResult
    public func steer(_ pack: LoadedPack) throws -> SteerOutcome {
        let choice = try state(pack).searchChoice
        let prompted: VectorRecord?
        do {
            prompted = try currentVector(pack)
        } catch let error as PipelineError where choice != nil && choice?.source != "prompted" {
            guard case .noVector = error else { throw error }
            prompted = nil
            progress.log("steer \(pack.name): no prompted vector (no pairs kept): judging the search's choice and c = 0 only")
        }
        let mainLayer = settings.steeringLayer(layerCount: layerCount)
        var layers = prompted == nil ? [] : [mainLayer]
        for l in settings.sweepLayers where prompted != nil && !layers.contains(l) { layers.append(l) }
        var allItems: [GenerationItem] = []
        if let vector = prompted {
            for l in layers { for c in settings.coefficients { allItems += try steeredItems(pack, vector: vector, layer: l, coefficient: c) } }
        }
        // The search's choice, judged beside the sweep with the unsteered baseline.
        var baselineItems: [GenerationItem] = []
        var chosenItems: [GenerationItem] = []
        var chosenVector: VectorRecord? = nil
        if let choice {
            guard let v = try store.vector(key: choice.vectorKey), choice.layer < v.rows.count else {
                throw PipelineError.missing(stage: "search", trait: pack.name, what: "searched vectors", count: 1, run: runDirectory)
            }
            chosenVector = v
            // Coefficient 0 names no vector or layer in its key: the same baseline as the sweep's.
            baselineItems = try steeredItems(pack, vector: prompted ?? v, layer: mainLayer, coefficient: 0)
            chosenItems = try steeredItems(pack, vector: v, layer: choice.layer, coefficient: choice.rawCoefficient, unitKey: [], raw: choice.rawCoefficient)
            allItems += baselineItems + chosenItems
        }
        let (computed, reused) = try generateMissing(allItems, stage: "steer", trait: pack.name)
        try record(StageReport(stage: "steer", trait: pack.name, computed: computed, reused: reused))
        let answers = try store.answers(keys: allItems.map(\.record.key))
        let records = allItems.compactMap { answers[$0.record.key] }
        let (judged, judgedReused) = try judgeMissing(uniqueByKey(records), pack: pack, stage: "steer-judge")
        try record(StageReport(stage: "steer-judge", trait: pack.name, computed: judged, reused: judgedReused))

        let identity = try judgeIdentity()
        /// Mean judged scores of `items`' stored answers at one point (the sweep's points: no `tag`).
        func judgedResult(_ items: [GenerationItem], vectorKey: String, layer: Int, coefficient: Double, tag: [String]) throws -> SteeringResultRecord {
            let recs = items.compactMap { answers[$0.record.key] }
            let found = try self.scores(of: recs, pack: pack, judgeIdentity: identity)
            let key = CacheKey.make(
                ["steering-result-v1", vectorKey, "\(layer)", CacheKey.number(coefficient), settings.positions.rawValue, identity]
                    + tag + recs.map(\.key))
            return SteeringResultRecord(
                key: key, trait: pack.name, vectorKey: vectorKey, layer: layer, coefficient: coefficient,
                positions: settings.positions.rawValue, meanTrait: mean(recs.compactMap { found[$0.key]?.trait?.score }),
                meanCoherence: mean(recs.compactMap { found[$0.key]?.coherence?.score }),
                scoredCount: recs.compactMap { found[$0.key]?.trait?.score }.count, answerCount: recs.count)
        }
        var results: [Int: [SteeringResultRecord]] = [:]
        if let vector = prompted {
            for l in layers {
                for c in settings.coefficients {
                    let r = try judgedResult(
                        try steeredItems(pack, vector: vector, layer: l, coefficient: c), vectorKey: vector.key, layer: l,
                        coefficient: c, tag: [])
                    try store.insert(steeringResult: r)
                    results[l, default: []].append(r)
                }
            }
        }
        var chosenResult: SteeringResultRecord? = nil
        if let choice, let chosenVector {
            let r = try judgedResult(
                chosenItems, vectorKey: chosenVector.key, layer: choice.layer, coefficient: choice.rawCoefficient, tag: ["search-choice", "raw"])
            try store.insert(steeringResult: r)
            chosenResult = r
            if prompted == nil {
                // No sweep: the unsteered baseline is the one point at the steering layer.
                let b = try judgedResult(baselineItems, vectorKey: chosenVector.key, layer: mainLayer, coefficient: 0, tag: [])
                try store.insert(steeringResult: b)
                results[mainLayer] = [b]
            }
        }
        let best = layers.count > 1 ? Self.bestLayer(results) : nil
        var st = try state(pack)
        st.chosenResultKey = chosenResult?.key
        st.steeringLayer = mainLayer
        st.steeringResultKeys = (results[mainLayer] ?? []).map(\.key)
        st.sweepResultKeys = layers.count > 1 ? layers.flatMap { (results[$0] ?? []).map(\.key) } : []
        st.bestLayer = best
        // Examples: the first evaluation question at the lowest, zero and highest coefficient.
        st.exampleAnswerKeys = []
        if let vector = prompted {
            let sorted = settings.coefficients.sorted()
            var exampleCoefficients = [sorted.first ?? 0, 0, sorted.last ?? 0]
            exampleCoefficients = exampleCoefficients.enumerated().filter { i, c in !exampleCoefficients[..<i].contains(c) }.map(\.1)
            st.exampleAnswerKeys = try exampleCoefficients.flatMap { c in
                try steeredItems(pack, vector: vector, layer: mainLayer, coefficient: c).prefix(2).map(\.record.key)
            }
        }
        // With a search choice: the first five questions unsteered and at the chosen point.
        if choice != nil {
            for key in (baselineItems.prefix(5) + chosenItems.prefix(5)).map(\.record.key) where !st.exampleAnswerKeys.contains(key) {
                st.exampleAnswerKeys.append(key)
            }
        }
        try save(st, pack)
        if let best { progress.log("steer \(pack.name): layer \(best) moves the trait most with coherence ≥ 50") }
        return SteerOutcome(
            points: results[mainLayer] ?? [], sweep: layers.count > 1 ? layers.flatMap { results[$0] ?? [] } : [], bestLayer: best,
            chosen: chosenResult)
    }

    /// The layer with the largest rise of mean trait score over coefficient 0 (or over the lowest
    /// coefficient when 0 was not run) at any coefficient whose mean coherence is ≥ 50.
    public static func bestLayer(_ results: [Int: [SteeringResultRecord]]) -> Int? {
        var best: (layer: Int, effect: Double)? = nil
        for (layer, points) in results.sorted(by: { $0.key < $1.key }) {
            guard let base = (points.first { $0.coefficient == 0 } ?? points.min { $0.coefficient < $1.coefficient })?.meanTrait else { continue }
            for p in points where (p.meanCoherence ?? 0) >= 50 {
                guard let t = p.meanTrait else { continue }
                let effect = abs(t - base)
                if best == nil || effect > best!.effect { best = (layer, effect) }
            }
        }
        return best?.layer
    }

    // MARK: monitor

    /// The prompted (positive or negative system prompt) items on the evaluation questions.
    func promptedItems(_ pack: LoadedPack) throws -> [GenerationItem] {
        let p = pack.pack
        guard !p.instructions.isEmpty else { throw PipelineError.packTooSmall(trait: p.name, field: "instructions", count: 0, needed: 1) }
        var items: [GenerationItem] = []
        for (q, question) in try evaluationQuestions(pack).enumerated() {
            let i = q % p.instructions.count
            for polarity in Polarity.allCases {
                let system = Pipeline.systemPrompt(
                    assistantName: polarity == .pos ? p.positiveAssistantName : "helpful",
                    instruction: polarity == .pos ? p.instructions[i].pos : p.instructions[i].neg)
                let sampling = steerSampling(pack, question: q)
                let remote = generatesRemotely(steeringStage: false)
                let key = CacheKey.make(
                    ["answer-v1", modelKey, pack.contentHash, "prompted", "\(q)", "\(i)", polarity.rawValue] + steerSamplingKey
                        + engineKeyParts(remote: remote))
                let record = AnswerRecord(
                    key: key, kind: .prompted, trait: p.name, questionIndex: q, question: question, instructionIndex: i,
                    polarity: polarity, sampleIndex: 0, systemPrompt: system, promptText: "", answer: "", promptTokenCount: 0,
                    responseTokenCount: 0, stopReason: "", seed: sampling.seed)
                items.append(
                    GenerationItem(
                        record: record, user: question, system: system, maxTokens: settings.steeringMaxTokens,
                        sampling: sampling, steering: nil, remote: remote))
            }
        }
        return items
    }

    /// The outcome of monitoring.
    public struct MonitorOutcome: Equatable, Sendable {
        public var layer: Int
        /// Response-mean projections per condition.
        public var projections: [ProjectionCondition: [Double]]
        /// Pearson correlation between the last prompt token's projection and the trait score.
        public var promptLastCorrelation: Double?
    }

    /// Stage 6: projections (a·v)/‖v‖ of response-mean activations at the steering layer for the
    /// unsteered baseline, positive- and negative-prompted answers and the steered answers; and the
    /// correlation between the last prompt token's projection and the trait score.
    @discardableResult
    public func monitor(_ pack: LoadedPack) throws -> MonitorOutcome {
        let vector = try currentVector(pack)
        let layer = settings.steeringLayer(layerCount: layerCount)
        let baseline = try steeredItems(pack, vector: vector, layer: layer, coefficient: 0)
        let prompted = try promptedItems(pack)
        let (computed, reused) = try generateMissing(baseline + prompted, stage: "monitor", trait: pack.name)
        try record(StageReport(stage: "monitor", trait: pack.name, computed: computed, reused: reused))
        let own = try store.answers(keys: (baseline + prompted).map(\.record.key))
        let ownRecords = (baseline + prompted).compactMap { own[$0.record.key] }
        let (judged, judgedReused) = try judgeMissing(ownRecords, pack: pack, stage: "monitor-judge")
        try record(StageReport(stage: "monitor-judge", trait: pack.name, computed: judged, reused: judgedReused))

        let v = vector.rows[layer].map(Double.init)
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        func project(_ row: [Float]) -> Double? {
            guard row.count == v.count, norm > 0 else { return nil }
            var dot = 0.0
            for j in 0..<row.count { dot += Double(row[j]) * v[j] }
            return dot / norm
        }
        var groups: [(ProjectionCondition, [AnswerRecord])] = [
            (.baseline, baseline.compactMap { own[$0.record.key] }),
            (.positivePrompt, prompted.filter { $0.record.polarity == .pos }.compactMap { own[$0.record.key] }),
            (.negativePrompt, prompted.filter { $0.record.polarity == .neg }.compactMap { own[$0.record.key] })
        ]
        for c in settings.coefficients where c != 0 {
            let items = try steeredItems(pack, vector: vector, layer: layer, coefficient: c)
            let found = try store.answers(keys: items.map(\.record.key))
            guard found.count == items.count else {
                progress.warn("monitor \(pack.name): steered answers at coefficient \(c) are missing; run `persona stage steer` to project them")
                continue
            }
            groups.append((.steered(coefficient: c), items.compactMap { found[$0.record.key] }))
        }
        var rows: [ProjectionRecord] = []
        var projections: [ProjectionCondition: [Double]] = [:]
        var lastPairs: [(Double, Double)] = []
        let identity = try judgeIdentity()
        let ownScores = try scores(of: ownRecords, pack: pack, judgeIdentity: identity)
        for (condition, answers) in groups {
            for a in answers {
                guard let s = try store.activations(answerKey: a.key) else { continue }
                if s.responseTokenCount > 0, layer < s.responseMean.count, let x = project(s.responseMean[layer]) {
                    rows.append(
                        ProjectionRecord(
                            trait: pack.name, vectorKey: vector.key, layer: layer, answerKey: a.key, condition: condition,
                            source: "response_mean", value: x))
                    projections[condition, default: []].append(x)
                }
                if a.kind != .steered || a.coefficient == 0, layer < s.promptLast.count, let x = project(s.promptLast[layer]) {
                    rows.append(
                        ProjectionRecord(
                            trait: pack.name, vectorKey: vector.key, layer: layer, answerKey: a.key, condition: condition,
                            source: "prompt_last", value: x))
                    if let t = ownScores[a.key]?.trait?.score { lastPairs.append((x, t)) }
                }
            }
        }
        try store.insert(projections: rows)
        let correlation = Self.pearson(lastPairs)
        var st = try state(pack)
        let positive = prompted.filter { $0.record.polarity == .pos }.compactMap { own[$0.record.key] }
        st.promptingBaseline = PromptingBaseline(
            meanTrait: mean(positive.compactMap { ownScores[$0.key]?.trait?.score }),
            meanCoherence: mean(positive.compactMap { ownScores[$0.key]?.coherence?.score }),
            answerCount: positive.count)
        st.monitorVectorKey = vector.key
        st.monitorLayer = layer
        st.promptLastCorrelation = correlation
        try save(st, pack)
        return MonitorOutcome(layer: layer, projections: projections, promptLastCorrelation: correlation)
    }

    /// "+2", "-0.5", "0": a coefficient as the summary and the report write it.
    static func signed(_ c: Double) -> String {
        String(ProjectionCondition.steered(coefficient: c).label.dropFirst("steered ".count))
    }

    /// Pearson correlation (nil with fewer than 3 points or no variance).
    public static func pearson(_ points: [(Double, Double)]) -> Double? {
        guard points.count >= 3 else { return nil }
        let n = Double(points.count)
        let mx = points.map(\.0).reduce(0, +) / n, my = points.map(\.1).reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (x, y) in points { sxy += (x - mx) * (y - my); sxx += (x - mx) * (x - mx); syy += (y - my) * (y - my) }
        guard sxx > 0, syy > 0 else { return nil }
        return sxy / (sxx * syy).squareRoot()
    }

    // MARK: geometry

    /// Cosine similarity of two vectors (0 when either is zero).
    public static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for j in 0..<min(a.count, b.count) { dot += Double(a[j]) * Double(b[j]); na += Double(a[j]) * Double(a[j]); nb += Double(b[j]) * Double(b[j]) }
        return na > 0 && nb > 0 ? dot / (na * nb).squareRoot() : 0
    }

    /// Stage 7: cosine similarity between the traits' vectors at the steering layer and at every layer.
    @discardableResult
    public func geometry(_ packs: [LoadedPack]) throws -> Geometry {
        let vectors = try packs.map { try currentVector($0) }
        let layer = settings.steeringLayer(layerCount: layerCount)
        let perLayer = (0..<layerCount).map { l in vectors.map { a in vectors.map { b in Self.cosine(a.rows[l], b.rows[l]) } } }
        let g = Geometry(traits: packs.map(\.name), layer: layer, cosine: perLayer[layer], perLayer: perLayer)
        try store.save(geometry: g)
        return g
    }

    func uniqueByKey(_ records: [AnswerRecord]) -> [AnswerRecord] {
        var seen = Set<String>()
        return records.filter { seen.insert($0.key).inserted }
    }
}

func mean(_ xs: [Double]) -> Double? { xs.isEmpty ? nil : xs.reduce(0, +) / Double(xs.count) }
