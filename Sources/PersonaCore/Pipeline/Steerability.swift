// Steerability diagnostics of a vector: is it a direction the model can be pushed along, or a
// mean of disagreeing differences that moves some inputs the wrong way?
//
// - anti-steerable fraction (Tan et al. 2024, "Analyzing the generalization and reliability of
//   steering vectors"): the share of the pack's two-choice behaviour items whose per-item
//   log-ratio m(trait) − m(other) falls as the coefficient rises (least-squares slope < 0 over the
//   behaviour stage's coefficients). 0 is ideal; near 0.5 the vector does not steer these items.
// - difference consistency (Braun et al. 2025): the mean pairwise cosine similarity of the
//   training differences (positive minus negative activation of each kept pair, at the steering
//   layer). Near 0 the mean is an average of unrelated directions.
// - projection separation: Cohen's d (pooled standard deviation) of the projections a·v̂ of the
//   kept positive vs negative answers' activations at the steering layer.
import Foundation

/// The three diagnostics of one vector at one layer.
public struct SteerabilityDiagnostics: Codable, Equatable, Sendable {
    public var layer: Int
    /// Share of behaviour items with slope < 0 (nil without behaviour results over ≥ 2 coefficients).
    public var antiSteerableFraction: Double?
    public var itemCount: Int
    /// Mean pairwise cosine of the training differences (nil with fewer than 2 pairs).
    public var differenceConsistency: Double?
    public var pairCount: Int
    /// Cohen's d of positive vs negative projections (nil with fewer than 2 answers a side or no spread).
    public var projectionSeparation: Double?

    public init(
        layer: Int, antiSteerableFraction: Double?, itemCount: Int, differenceConsistency: Double?, pairCount: Int,
        projectionSeparation: Double?
    ) {
        self.layer = layer; self.antiSteerableFraction = antiSteerableFraction; self.itemCount = itemCount
        self.differenceConsistency = differenceConsistency; self.pairCount = pairCount; self.projectionSeparation = projectionSeparation
    }
}

extension SteerabilityDiagnostics {
    /// One line for the summary and the report.
    public var summaryText: String {
        func f(_ x: Double?, _ digits: Int) -> String { x.map { String(format: "%.\(digits)f", $0) } ?? "-" }
        return "anti-steerable \(f(antiSteerableFraction, 2)) of \(itemCount) items, difference consistency (mean pairwise cosine) "
            + "\(f(differenceConsistency, 2)) over \(pairCount) pairs, pos/neg projection separation d = \(f(projectionSeparation, 2))"
    }
}

public enum Steerability {
    /// Least-squares slope of ys on xs (nil with < 2 distinct xs).
    public static func slope(_ xs: [Double], _ ys: [Double]) -> Double? {
        guard xs.count == ys.count, xs.count >= 2 else { return nil }
        let mx = xs.reduce(0, +) / Double(xs.count), my = ys.reduce(0, +) / Double(ys.count)
        var sxy = 0.0, sxx = 0.0
        for (x, y) in zip(xs, ys) { sxy += (x - mx) * (y - my); sxx += (x - mx) * (x - mx) }
        return sxx > 0 ? sxy / sxx : nil
    }

    /// The share of items whose log-ratio slope against the coefficient is < 0.
    /// `logRatios[k][i]` is item i's log-ratio at `coefficients[k]`.
    public static func antiSteerableFraction(coefficients: [Double], logRatios: [[Double]]) -> Double? {
        guard coefficients.count == logRatios.count, let items = logRatios.first?.count, items > 0,
            logRatios.allSatisfy({ $0.count == items })
        else { return nil }
        var negative = 0, counted = 0
        for i in 0..<items {
            guard let s = slope(coefficients, logRatios.map { $0[i] }) else { return nil }
            counted += 1
            if s < 0 { negative += 1 }
        }
        return counted > 0 ? Double(negative) / Double(counted) : nil
    }

    /// The per-item log-ratio d from P = σ(d) (the behaviour stage stores P), clamped away from 0 and 1.
    public static func logRatio(fromProbability p: Double) -> Double {
        let q = min(max(p, 1e-12), 1 - 1e-12)
        return log(q / (1 - q))
    }

    /// Mean cosine over all unordered pairs (nil with < 2 vectors; zero vectors count as cosine 0).
    public static func meanPairwiseCosine(_ vectors: [[Float]]) -> Double? {
        guard vectors.count >= 2 else { return nil }
        let norms = vectors.map { ResidualNorms.norm($0) }
        var total = 0.0, count = 0
        for a in 0..<vectors.count {
            for b in (a + 1)..<vectors.count {
                var dot = 0.0
                for (x, y) in zip(vectors[a], vectors[b]) { dot += Double(x) * Double(y) }
                total += norms[a] > 0 && norms[b] > 0 ? dot / (norms[a] * norms[b]) : 0
                count += 1
            }
        }
        return total / Double(count)
    }

    /// Cohen's d = (mean a − mean b) / pooled standard deviation (nil with < 2 values a side or no spread).
    public static func cohensD(_ a: [Double], _ b: [Double]) -> Double? {
        guard a.count >= 2, b.count >= 2 else { return nil }
        func meanVar(_ x: [Double]) -> (Double, Double) {
            let m = x.reduce(0, +) / Double(x.count)
            return (m, x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count - 1))
        }
        let (ma, va) = meanVar(a), (mb, vb) = meanVar(b)
        let pooled = (((Double(a.count) - 1) * va + (Double(b.count) - 1) * vb) / Double(a.count + b.count - 2)).squareRoot()
        return pooled > 0 ? (ma - mb) / pooled : nil
    }

    /// The diagnostics from kept pairs' activations at `layer` (`positive[i]`, `negative[i]` one pair),
    /// the vector row at that layer, and the behaviour results (one per coefficient).
    public static func diagnose(
        layer: Int, vector: [Float], positive: [[Float]], negative: [[Float]],
        behavior: [(coefficient: Double, itemProbabilities: [Double])]
    ) -> SteerabilityDiagnostics {
        let differences = zip(positive, negative).map { p, n in zip(p, n).map { $0 - $1 } }
        let vn = ResidualNorms.norm(vector)
        func projection(_ a: [Float]) -> Double {
            guard vn > 0 else { return 0 }
            var dot = 0.0
            for (x, y) in zip(a, vector) { dot += Double(x) * Double(y) }
            return dot / vn
        }
        let sorted = behavior.sorted { $0.coefficient < $1.coefficient }
        let anti =
            sorted.count >= 2
            ? antiSteerableFraction(
                coefficients: sorted.map(\.coefficient),
                logRatios: sorted.map { $0.itemProbabilities.map(logRatio(fromProbability:)) }) : nil
        return SteerabilityDiagnostics(
            layer: layer, antiSteerableFraction: anti, itemCount: sorted.first?.itemProbabilities.count ?? 0,
            differenceConsistency: meanPairwiseCosine(differences), pairCount: differences.count,
            projectionSeparation: cohensD(positive.map(projection), negative.map(projection)))
    }
}

extension Pipeline {
    static func diagnosticsKey(trait: String) -> String { "diagnostics.trait.\(trait)" }

    /// The diagnostics of the trait's current vector at the steering layer, from the kept pairs'
    /// stored activations (the run's vector method) and the behaviour results; stored for the report.
    @discardableResult
    func steerabilityDiagnostics(_ pack: LoadedPack, filtered outcome: FilterOutcome, behavior: [BehaviorResult]) throws -> SteerabilityDiagnostics {
        let layer = settings.steeringLayer(layerCount: layerCount)
        let vector = try currentVector(pack)
        var positive: [[Float]] = [], negative: [[Float]] = []
        for d in outcome.decisions where d.kept {
            guard let p = try store.activations(answerKey: d.positiveKey), let n = try store.activations(answerKey: d.negativeKey) else {
                throw PipelineError.missing(stage: "generate", trait: pack.name, what: "activation summaries", count: 1, run: runDirectory)
            }
            func row(_ a: ActivationSummary) -> [Float] {
                let rows: [[Float]]
                switch settings.method {
                case .responseAvg: rows = a.responseMean
                case .promptAvg: rows = a.promptMean
                case .promptLast: rows = a.promptLast
                }
                return layer < rows.count ? rows[layer] : []
            }
            positive.append(row(p)); negative.append(row(n))
        }
        let d = Steerability.diagnose(
            layer: layer, vector: layer < vector.rows.count ? vector.rows[layer] : [], positive: positive, negative: negative,
            behavior: behavior.filter { $0.layer == layer || $0.coefficient == 0 }.map { ($0.coefficient, $0.itemProbabilities) })
        try store.setInfo(Self.diagnosticsKey(trait: pack.name), json: d)
        return d
    }
}
