// The report's tables as CSV (RFC 4180: comma-separated, CRLF line ends, a field quoted when it
// holds a comma, a quote, CR or LF, quotes doubled). Missing and non-finite numbers are empty
// fields. One file per table: steering, layer_sweep, projections (long form), vector_norms,
// geometry, examples, pairs.
import Foundation

enum ReportCSV {
    /// One RFC 4180 field.
    static func field(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    /// A table: header plus rows, CRLF after every record.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        ([header] + rows).map { $0.map(field).joined(separator: ",") + "\r\n" }.joined()
    }

    static func number(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "" }
        return String(x)
    }

    /// Every table by file name (without `.csv`), in a fixed order.
    static func tables(_ data: ReportData) -> [(name: String, text: String)] {
        let pointHeader = ["trait", "layer", "coefficient", "mean_trait", "mean_coherence", "scored_count", "answer_count"]
        func pointRow(_ trait: String, _ p: SteeringPoint) -> [String] {
            [trait, String(p.layer), number(p.coefficient), number(p.meanTrait), number(p.meanCoherence), String(p.scoredCount), String(p.answerCount)]
        }
        let steering = data.traits.flatMap { t in t.steering.map { pointRow(t.trait, $0) } }
        let sweep = data.traits.flatMap { t in t.layerSweep.map { pointRow(t.trait, $0) } }
        let projections = data.traits.flatMap { t in
            t.projections.flatMap { g in g.values.enumerated().map { [t.trait, g.condition, String($0.offset), number($0.element)] } }
        }
        let norms = data.traits.flatMap { t in t.vectorNorms.enumerated().map { [t.trait, String($0.offset), number($0.element)] } }
        var geometry: [[String]] = []
        if let g = data.geometry {
            let layers: [(Int, [[Double]])] = g.perLayer.isEmpty ? [(g.layer, g.cosine)] : g.perLayer.enumerated().map { ($0.offset, $0.element) }
            for (layer, matrix) in layers {
                for (i, a) in g.traits.enumerated() {
                    for (j, b) in g.traits.enumerated() {
                        let v = i < matrix.count && j < matrix[i].count ? matrix[i][j] : nil
                        geometry.append([String(layer), a, b, number(v)])
                    }
                }
            }
        }
        let examples = data.traits.flatMap { t in
            t.examples.map { [t.trait, number($0.coefficient), $0.question, $0.answer, number($0.traitScore), number($0.coherence)] }
        }
        let pairs = data.traits.flatMap { t -> [[String]] in
            let head = [t.trait, String(t.pairsTotal), String(t.pairsKept)]
            if t.dropReasons.isEmpty { return [head + ["", "0"]] }
            return t.dropReasons.sorted { $0.key < $1.key }.map { head + [$0.key, String($0.value)] }
        }
        let behavior = data.traits.flatMap { t in
            (t.behavior ?? []).map {
                [t.trait, String(t.steeringLayer), number($0.coefficient), number($0.meanTraitProbability), String($0.itemCount), number($0.meanLogRatio)]
            }
        }
        let judge = data.traits.compactMap { t in
            t.judgeQuality.map {
                [
                    t.trait, number($0.auc), number($0.meanGap), number($0.positiveMean), number($0.negativeMean), number($0.coherenceMean),
                    String($0.positiveCount), String($0.negativeCount)
                ]
            }
        }
        return [
            ("steering", table(pointHeader, steering)),
            ("behavior", table(["trait", "layer", "coefficient", "mean_trait_probability", "item_count", "mean_log_ratio"], behavior)),
            (
                "judge_quality",
                table(["trait", "auc", "mean_gap", "positive_mean", "negative_mean", "coherence_mean", "positive_count", "negative_count"], judge)
            ),
            ("layer_sweep", table(pointHeader, sweep)),
            ("projections", table(["trait", "condition", "index", "projection"], projections)),
            ("vector_norms", table(["trait", "layer", "norm"], norms)),
            ("geometry", table(["layer", "trait_a", "trait_b", "cosine"], geometry)),
            ("examples", table(["trait", "coefficient", "question", "answer", "trait_score", "coherence"], examples)),
            ("pairs", table(["trait", "pairs_total", "pairs_kept", "drop_reason", "dropped"], pairs))
        ]
    }
}
