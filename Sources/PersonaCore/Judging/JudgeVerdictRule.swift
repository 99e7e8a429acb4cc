// The scoring rule every Persona autorater applies to a judge's answer distribution (DESIGN.md,
// "Autoraters"): no score when the judge refuses (P(REFUSAL) ≥ the probability on the integers
// 0–100) or when the integers carry less than `minimumNumberMass`; otherwise the probability-
// weighted mean of the integers.
//
// One source file, compiled into each module that applies the rule (local-judge, the openai
// judge's core, PersonaCore): it lives here, and the plugins link to it. It is internal to each
// module: plugins share no Swift module with the host or with each other (a Swift module linked
// into two images becomes two copies, and Swift types never cross the plugin ABI), and the rule is
// scoring policy, not part of the C contract of persona_abi.h, so it does not belong in that header.
import Foundation

enum JudgeVerdictRule {
    /// Below this much probability on the integers 0–100, a verdict has no score.
    static let minimumNumberMass = 0.25

    /// Why `numberMass` and `refusalProbability` give no score, or nil when they give one.
    /// `honoursRefusal` false (local-judge's `"refusal": "ignore"`) skips the refusal test only.
    static func noScoreReason(
        numberMass: Double, refusalProbability: Double,
        minimumNumberMass: Double = minimumNumberMass, honoursRefusal: Bool = true
    ) -> String? {
        if honoursRefusal && refusalProbability > 0 && refusalProbability >= numberMass {
            return String(format: "the judge refuses (P(REFUSAL) = %.3f ≥ number mass %.3f)", refusalProbability, numberMass)
        }
        if !(numberMass >= minimumNumberMass) {
            return String(format: "numbers carry %.3f of the probability (< %.2f)", numberMass, minimumNumberMass)
        }
        return nil
    }

    /// Σ n·P(n) / Σ P(n) over (n, P(n)) pairs whose mass is positive.
    static func expectedScore<S: Sequence>(_ numbers: S) -> Double where S.Element == (Int, Double) {
        var weighted = 0.0, mass = 0.0
        for (n, p) in numbers { weighted += Double(n) * p; mass += p }
        return weighted / mass
    }

    /// Whether a judge's first answer token starts "REFUSAL" (at least two letters, any case,
    /// surrounding whitespace ignored): what a judge that sees only first tokens (top-k log-probs)
    /// counts as P(REFUSAL).
    static func startsRefusal(_ token: String) -> Bool {
        let t = token.trimmingCharacters(in: .whitespacesAndNewlines).uppercased()
        return t.count >= 2 && "REFUSAL".hasPrefix(t)
    }
}
