// The judge-free behavioural measure (`persona stage behave`, part of `persona run`): at each
// steering coefficient, the probability the model puts on the trait-showing answer of each of the
// pack's two-choice items, from teacher-forced log-likelihoods — no sampling and no judge, so it is
// exact, cheap and immune to a weak judge.
//
// Per item: the question is the user turn (no system prompt, as the steered evaluation answers),
// each answer is scored as the assistant's reply, and
//     m(x) = (1/|x|) Σ_k log P(x_k | prompt, x_<k)        (mean log-probability per answer token)
//     P(trait) = exp m(trait) / (exp m(trait) + exp m(other)) = σ(m(trait) − m(other)).
// Length normalisation keeps a longer answer from losing just for having more tokens. Why this and
// not the A/B letter probability: a 0.5B model barely follows a multiple-choice format (its letter
// choice is dominated by position bias), while the answer's own likelihood is what steering moves
// when the model generates; it also needs no answer order, so the pack's a/b balance only matters
// to a letter-based reading of the same items.
//
// Cache keys cover the model, the items' hash, the vector, the layer, the coefficient and the
// position mode; each coefficient's result is committed as soon as it is computed.
import Foundation
import PersonaModel

/// The behavioural measure at one coefficient.
public struct BehaviorResult: Codable, Equatable, Sendable {
    public var key: String
    public var trait: String
    public var layer: Int
    public var coefficient: Double
    public var positions: String
    /// Mean over items of P(trait answer).
    public var meanTraitProbability: Double
    /// P(trait answer) per item, in the pack's order.
    public var itemProbabilities: [Double]
    /// Mean over items of m(trait) − m(other) (nats per token).
    public var meanLogRatio: Double
}

extension Pipeline {
    /// σ(m(trait) − m(other)) from per-token log-probabilities of the two answers.
    public static func traitProbability(traitLogProbabilities t: [Double], otherLogProbabilities o: [Double]) -> Double {
        traitProbability(logRatio: logRatio(t, o))  // 0 (→ 0.5) when either answer is empty
    }

    /// P(trait answer) of an item whose log-ratio is `d`: σ(d), computed without overflow.
    static func traitProbability(logRatio d: Double) -> Double {
        d >= 0 ? 1 / (1 + exp(-d)) : exp(d) / (1 + exp(d))
    }

    /// Mean log-probability difference per token, m(trait) − m(other).
    static func logRatio(_ t: [Double], _ o: [Double]) -> Double {
        guard !t.isEmpty, !o.isEmpty else { return 0 }
        return t.reduce(0, +) / Double(t.count) - o.reduce(0, +) / Double(o.count)
    }

    /// The prompt and answer tokens of one answer to a question asked alone
    /// (`teacherForcedSequence(messages:answer:)`, which remote generation uses too).
    func teacherForcedSequence(question: String, answer: String) throws -> TeacherForcedSequence {
        try teacherForcedSequence(messages: [ChatMessage(role: "user", content: question)], answer: answer).sequence
    }

    static func behaviorKey(
        modelKey: String, pack: LoadedPack, vectorKey: String, layer: Int, coefficient: Double, positions: SteeringPositions,
        unitKey: [String] = [], ablationKey: [String] = []
    ) -> String {
        CacheKey.make(
            [
                "behavior-v1", modelKey, pack.pack.behaviorItemsHash, "length-normalized-loglik",
                coefficient == 0 ? "unsteered" : vectorKey, coefficient == 0 ? "-" : "\(layer)", CacheKey.number(coefficient),
                coefficient == 0 ? "-" : positions.rawValue
            ] + (coefficient == 0 ? [] : unitKey) + ablationKey)
    }

    /// Stage 8: the behavioural measure at every coefficient at the steering layer. Returns the
    /// results in coefficient order (empty when the pack has no two-choice items).
    @discardableResult
    public func behave(_ pack: LoadedPack) throws -> [BehaviorResult] {
        guard let items = pack.pack.behaviorItems, !items.isEmpty else {
            progress.log("behave \(pack.name): the pack has no behavior_items; skipped")
            try record(StageReport(stage: "behave", trait: pack.name, computed: 0, reused: 0))
            return []
        }
        let problems = PackValidation.behaviorItemProblems(items)
        guard problems.isEmpty else { throw PackError.invalid(source: pack.source, problems: problems) }
        let vector = try currentVector(pack)
        let layer = settings.steeringLayer(layerCount: layerCount)
        let ablation = try steeringAblation()
        let keys = settings.coefficients.map {
            Self.behaviorKey(
                modelKey: modelKey, pack: pack, vectorKey: vector.key, layer: layer, coefficient: $0, positions: settings.positions,
                unitKey: coefficientUnitKey, ablationKey: ablation?.key ?? [])
        }
        let stored = try keys.map { try store.behaviorResult(key: $0) }
        let missingCount = stored.filter { $0 == nil }.count
        // The items are tokenized only when some coefficient still needs them.
        var sequences: [TeacherForcedSequence] = []
        if missingCount > 0 {
            for item in items {
                guard let (traitAnswer, otherAnswer) = item.answers else { continue }
                sequences.append(try teacherForcedSequence(question: item.question, answer: traitAnswer))
                sequences.append(try teacherForcedSequence(question: item.question, answer: otherAnswer))
            }
            progress.begin(stage: "behave", trait: pack.name, total: missingCount, tokenBudget: 0)
        }
        defer { if missingCount > 0 { progress.end() } }
        let pool = PrefixCachePool()
        var results: [BehaviorResult] = []
        var computed = 0, reused = 0
        for (i, c) in settings.coefficients.enumerated() {
            let key = keys[i]
            if let stored = stored[i] {
                results.append(stored); reused += 1; continue
            }
            let raw = try rawCoefficient(c, layer: layer, vector: vector, pack: pack)
            let spec = c == 0 ? [] : [SteeringSpec(vector: vector.rows[layer], layer: layer, coefficient: Float(raw), positions: settings.positions)]
            let lp = try TeacherForcing.logProbabilities(
                sequences, transformer: model.transformer, steering: spec, pool: pool,
                interventions: ablation?.hooks ?? [])
            var probabilities: [Double] = [], ratios: [Double] = []
            for k in stride(from: 0, to: lp.count - 1, by: 2) {
                probabilities.append(Self.traitProbability(traitLogProbabilities: lp[k], otherLogProbabilities: lp[k + 1]))
                ratios.append(Self.logRatio(lp[k], lp[k + 1]))
            }
            let r = BehaviorResult(
                key: key, trait: pack.name, layer: layer, coefficient: c, positions: settings.positions.rawValue,
                meanTraitProbability: mean(probabilities) ?? 0.5, itemProbabilities: probabilities,
                meanLogRatio: mean(ratios) ?? 0)
            try store.insert(behaviorResult: r)
            results.append(r)
            computed += 1
            progress.advance(done: computed, tokens: 0)
        }
        var st = try state(pack)
        st.behaviorResultKeys = results.map(\.key)
        try save(st, pack)
        try record(StageReport(stage: "behave", trait: pack.name, computed: computed, reused: reused))
        return results
    }

    /// Spearman's rank correlation (average ranks for ties; nil with fewer than 3 points or no variance).
    public static func spearman(_ points: [(Double, Double)]) -> Double? {
        func ranks(_ xs: [Double]) -> [Double] {
            let order = xs.indices.sorted { xs[$0] < xs[$1] }
            var r = [Double](repeating: 0, count: xs.count)
            var i = 0
            while i < order.count {
                var j = i
                while j + 1 < order.count && xs[order[j + 1]] == xs[order[i]] { j += 1 }
                let average = Double(i + j) / 2 + 1
                for k in i...j { r[order[k]] = average }
                i = j + 1
            }
            return r
        }
        let rx = ranks(points.map(\.0)), ry = ranks(points.map(\.1))
        return pearson(Array(zip(rx, ry)))
    }
}
