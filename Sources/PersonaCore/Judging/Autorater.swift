// The seam between the pipeline and whatever judges answers (DESIGN.md, "Autoraters"). The
// pipeline, `persona judge` and the server's callers see only this protocol; the implementations
// are plugins (`openai`, `local-judge`) wrapped by the plugin host.
//
// Scoring rule shared by every autorater: the judge is asked, with an eval prompt holding
// `{question}` and `{answer}`, for REFUSAL or a number 0–100; the score is the probability-weighted
// mean of the integers 0–100, and there is no score when those integers carry less than
// `JudgeRule.minimumNumberMass` of the probability or the judge refuses.

import Foundation

/// One thing to judge.
public struct JudgeRequest: Sendable, Hashable, Codable {
    public var question: String
    public var answer: String
    /// The eval prompt with `{question}` and `{answer}` placeholders (a pack's, or `CoherencePrompt.text`).
    public var evalPrompt: String

    public init(question: String, answer: String, evalPrompt: String) {
        self.question = question; self.answer = answer; self.evalPrompt = evalPrompt
    }

    /// The eval prompt with the placeholders filled (each placeholder replaced once, answer last,
    /// so that an answer containing "{question}" is left as it is).
    public var renderedPrompt: String {
        evalPrompt.replacingOccurrences(of: "{question}", with: question)
            .replacingOccurrences(of: "{answer}", with: answer)
    }
}

/// A judge's verdict on one request: a score, or no score with the reason.
public struct JudgeResult: Sendable, Equatable, Codable {
    /// 0–100, or nil when there is no score.
    public var score: Double?
    /// Why there is no score (refusal, too little mass on numbers, a failed request after retries).
    public var noScoreReason: String?
    /// Probability mass the judge put on the integers 0–100.
    public var numberMass: Double
    /// The most likely answers (a number, "REFUSAL", or another token's text) and their probabilities, best first.
    public var alternatives: [Alternative]

    public struct Alternative: Sendable, Equatable, Codable {
        public var text: String
        public var probability: Double
        public init(text: String, probability: Double) { self.text = text; self.probability = probability }
    }

    public init(score: Double?, noScoreReason: String?, numberMass: Double, alternatives: [Alternative] = []) {
        self.score = score; self.noScoreReason = noScoreReason; self.numberMass = numberMass; self.alternatives = alternatives
    }
}

/// Scores question/answer pairs. Implementations may work concurrently or in batches inside
/// `score`; results come back in request order. A per-item failure is a `JudgeResult` with a
/// `noScoreReason`; only a failure that makes every item fail (bad configuration, 401, unknown
/// model) throws.
public protocol Autorater: AnyObject {
    /// The autorater's name (the plugin's name, e.g. `local-judge`, `openai`).
    var name: String { get }
    /// What identifies the judge for caching (plugin name, version, model, configuration without
    /// secrets): a change must invalidate stored scores.
    var cacheIdentity: String { get }
    /// Scores `requests`; `progress(done)` is called as items finish.
    func score(_ requests: [JudgeRequest], progress: ((Int) -> Void)?) throws -> [JudgeResult]
}

/// Constants of the scoring rule.
public enum JudgeRule {
    /// Below this much probability on the integers 0–100, a verdict has no score (the rule both
    /// autorater plugins compile: Sources/PersonaCore/Judging/JudgeVerdictRule.swift).
    public static let minimumNumberMass = JudgeVerdictRule.minimumNumberMass
}
