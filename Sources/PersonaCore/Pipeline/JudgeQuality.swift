// How well the judge separates the answers the run knows to differ: the extraction answers written
// under the trait-eliciting system prompts (positive) and under the trait-suppressing ones
// (negative). A judge that cannot tell these apart gives steering curves that mean nothing, so
// every run measures it and says so.
//
// AUC = P(score(pos) > score(neg)) + ½ P(score(pos) = score(neg)) over every (pos, neg) pair of
// scored answers (the Mann–Whitney statistic divided by n_pos · n_neg): 0.5 is chance, 1 perfect.
import Foundation

/// The judge's separation of positive- from negative-prompted extraction answers.
public struct JudgeQuality: Codable, Equatable, Sendable {
    /// Area under the ROC curve of trait scores, positive vs negative answers.
    public var auc: Double?
    /// Mean trait score of positive answers minus that of negative answers.
    public var meanGap: Double?
    public var positiveMean: Double?
    public var negativeMean: Double?
    /// Mean coherence of every scored extraction answer.
    public var coherenceMean: Double?
    /// Scored answers on each side.
    public var positiveCount: Int
    public var negativeCount: Int

    /// Below this AUC the run warns that the judge cannot separate the trait.
    public static let warningAUC = 0.75

    public init(positive: [Double], negative: [Double], coherence: [Double]) {
        positiveCount = positive.count
        negativeCount = negative.count
        positiveMean = mean(positive)
        negativeMean = mean(negative)
        coherenceMean = mean(coherence)
        meanGap = positiveMean.flatMap { p in negativeMean.map { p - $0 } }
        auc = Self.auc(positive: positive, negative: negative)
    }

    /// The Mann–Whitney AUC (nil when either side is empty).
    public static func auc(positive: [Double], negative: [Double]) -> Double? {
        guard !positive.isEmpty, !negative.isEmpty else { return nil }
        var wins = 0.0
        for p in positive {
            for n in negative {
                if p > n { wins += 1 } else if p == n { wins += 0.5 }
            }
        }
        return wins / Double(positive.count * negative.count)
    }

    /// The warning for a judge that cannot separate the trait, nil when it can (or when there is too
    /// little to tell).
    public func warning(trait: String, judge: String) -> String? {
        guard let auc, auc < Self.warningAUC else { return nil }
        let gap = meanGap.map { String(format: "%+.1f", $0) } ?? "-"
        return String(
            format:
                "the judge cannot tell %@ answers from helpful ones (AUC %.2f on %d trait-prompted and %d helpful-prompted answers, mean gap %@ points; 0.5 is chance); steering scores from it mean little. Either the judge is too weak — use a stronger judge (e.g. --judge-config '{\"model\": \"qwen2.5-1.5b\", \"refusal\": \"ignore\"}' after `make models-large`, or --judge openai on a larger model) — or the trait prompts do not change what the model writes: read the answers (`persona report`). The behavioural measure needs no judge. Judge: %@",
            trait, auc, positiveCount, negativeCount, gap, String(judge.prefix(80)))
    }
}
