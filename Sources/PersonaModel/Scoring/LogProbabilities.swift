// Next-token log-probabilities: the log-softmax of a logits row, in-process. The one definition:
// the server's `logprobs`, the judges that read a model's distribution over answers
// (NextTokenScorer), teacher forcing (the behavioural measure and the search) and the refusal
// score all call these functions, so every consumer sees the same numbers (log-probabilities of
// the raw model distribution: no temperature, top-p or top-k applied).
import Foundation

/// A token and its log-probability.
public struct TokenLogProbability: Equatable, Sendable {
    public var token: Int
    public var logProbability: Float
    public init(token: Int, logProbability: Float) { self.token = token; self.logProbability = logProbability }
}

public enum LogProbabilities {
    /// log Σ exp(x) over `logits`: `max + log Σ exp(x − max)`, every step in Double; nil when the
    /// row is empty or its largest logit is not finite.
    public static func logNormalizer(_ logits: [Float]) -> Double? {
        guard let maximum = logits.max(), maximum.isFinite else { return nil }
        var sum = 0.0
        for x in logits { sum += exp(Double(x) - Double(maximum)) }
        return Double(maximum) + log(sum)
    }

    /// log-softmax of `logits`: `x − log Σ exp(x)` (`logNormalizer`), rounded to Float once; all
    /// −∞ when the row has no finite maximum.
    public static func logSoftmax(_ logits: [Float]) -> [Float] {
        guard let logZ = logNormalizer(logits) else { return logits.map { _ in -.infinity } }
        return logits.map { Float(Double($0) - logZ) }
    }

    /// log softmax(logits)[token] in Double (teacher forcing sums these over an answer); −∞ for a
    /// token outside the row or a row without a finite maximum.
    public static func logProbability(of token: Int, in logits: [Float]) -> Double {
        guard token >= 0, token < logits.count, let logZ = logNormalizer(logits) else { return -.infinity }
        return Double(logits[token]) - logZ
    }

    /// The `count` most likely tokens, best first (ties by lower id).
    public static func top(_ logProbabilities: [Float], count: Int) -> [TokenLogProbability] {
        guard count > 0 else { return [] }
        // A bounded insertion list: count is small (≤ 20) against a vocabulary of ~10⁵.
        var best: [TokenLogProbability] = []
        best.reserveCapacity(count + 1)
        for (token, lp) in logProbabilities.enumerated() {
            if best.count == count, let last = best.last, !(lp > last.logProbability) { continue }
            var i = best.count
            while i > 0 && lp > best[i - 1].logProbability { i -= 1 }
            best.insert(TokenLogProbability(token: token, logProbability: lp), at: i)
            if best.count > count { best.removeLast() }
        }
        return best
    }
}

extension LanguageModel {
    /// Log-probabilities of the token that follows `promptTokens` (one prefill with a fresh cache,
    /// log-softmax of the last position's logits). Not thread-safe: the transformer must not run
    /// anything else at the same time (a server holds its model on its own engine thread).
    public func nextTokenLogProbabilities(promptTokens: [Int]) throws -> [Float] {
        let cache = transformer.makeCache(capacity: promptTokens.count + 1)
        let logits = try transformer.forward([SequenceInput(tokens: promptTokens, cache: cache)], logits: .last)
        return LogProbabilities.logSoftmax(logits.first ?? [])
    }
}
