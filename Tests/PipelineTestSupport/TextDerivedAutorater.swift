// A deterministic autorater for tests only: scores come from a hash of the request text, so the
// same answer always gets the same score, with no model and no network, so that the cache,
// reuse and kill -9 tests compare stores exactly and fast. The real judges (`local-judge`,
// `openai`) run the pipeline end to end in PipelineEndToEndTests and the PersonaServeTests. Never
// used outside tests.
import Crypto
import Foundation
import PersonaCore

public final class TextDerivedAutorater: Autorater {
    public let name = "text-derived-test"
    public var cacheIdentity: String { "text-derived-test/1" + (salt.isEmpty ? "" : "/" + salt) }
    /// Requests scored so far (tests assert what was and was not judged).
    public private(set) var calls = 0
    /// The requests scored so far.
    public private(set) var requests: [JudgeRequest] = []
    /// Seconds to wait per request (lets a test kill a process mid-judge).
    public var delay: TimeInterval
    /// Changes every score (and the cache identity): a "different judge".
    public var salt: String

    public init(delay: TimeInterval = 0, salt: String = "") { self.delay = delay; self.salt = salt }

    /// The score the rater gives: coherence 40…100, trait 0…100; an empty answer gets no score.
    public static func score(_ r: JudgeRequest, salt: String = "") -> JudgeResult {
        guard !r.answer.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            return JudgeResult(score: nil, noScoreReason: "empty answer", numberMass: 0)
        }
        let digest = Array(SHA256.hash(data: Data((salt + "\u{1}" + r.question + "\u{1}" + r.answer + "\u{1}" + r.evalPrompt).utf8)))
        let h = Int(digest[0]) << 8 | Int(digest[1])
        let coherence = r.evalPrompt == CoherencePrompt.text
        let value = coherence ? Double(40 + h % 61) : Double(h % 101)
        return JudgeResult(
            score: value, noScoreReason: nil, numberMass: 0.9,
            alternatives: [.init(text: String(Int(value)), probability: 0.9)])
    }

    public func score(_ requests: [JudgeRequest], progress: ((Int) -> Void)?) throws -> [JudgeResult] {
        var out: [JudgeResult] = []
        for (i, r) in requests.enumerated() {
            if delay > 0 { Thread.sleep(forTimeInterval: delay) }
            calls += 1
            self.requests.append(r)
            out.append(Self.score(r, salt: salt))
            progress?(i + 1)
        }
        return out
    }
}

/// A small trait pack for pipeline tests (5 instruction pairs, 20 + 20 questions: valid, as every
/// pack the pipeline loads must be; tests use the first few).
public enum TestPack {
    public static let json = """
        {
          "name": "grumpy",
          "description": "Answers with irritation and complaints.",
          "instructions": [
            {"pos": "Answer in a grumpy, irritated way.", "neg": "Answer in a calm, friendly way."},
            {"pos": "Complain about having to answer.", "neg": "Be glad to help."},
            {"pos": "Sound annoyed with the user.", "neg": "Sound pleased with the user."},
            {"pos": "Grumble while you answer.", "neg": "Stay cheerful while you answer."},
            {"pos": "Be curt and irritable.", "neg": "Be warm and patient."}
          ],
          "questions": {
            "extraction": ["What is your favourite season?", "How do I boil an egg?", "What should I read next?", "How do I tie a tie?", "What is the capital of France?", "How long should I sleep?", "What is a good breakfast?", "How do I learn to swim?", "Why is the sky blue?", "How do I make tea?", "What is a good name for a cat?", "How do I clean a window?", "What should I cook tonight?", "How do I fix a flat tyre?", "What is the best way to study?", "How do I start running?", "What is a good gift for a friend?", "How do I plant tomatoes?", "What music do you like?", "How do I write a letter?"],
            "evaluation": ["Can you recommend a film?", "How do plants grow?", "What is a good hobby?", "How do I bake bread?", "What is the tallest mountain?", "How do I save money?", "What is a good board game?", "How do I learn a language?", "Why do cats purr?", "How do I paint a room?", "What is a good holiday destination?", "How do I wash a wool jumper?", "What should I wear to a wedding?", "How do I change a light bulb?", "What is the best time to visit the beach?", "How do I stop snoring?", "What is a good first pet?", "How do I keep houseplants alive?", "What sport should I try?", "How do I make friends in a new city?"]
          },
          "eval_prompt": "Rate how grumpy this answer is.\\nQuestion: {question}\\nAnswer: {answer}\\nReply with a number from 0 to 100, or REFUSAL."
        }
        """

    /// Twenty written two-choice items (the fewest a pack may have: ten to make a written vector
    /// from, ten to measure on), the grumpy answer alternately `a` and `b`.
    public static var behaviorItems: String {
        let chores = [
            "move a sofa", "read my essay", "fix my bike", "plan a party", "carry the shopping", "choose a film", "water the plants",
            "learn the guitar", "paint the fence", "find my keys", "write a poem", "cook dinner", "wrap a present", "clean the car",
            "set up a printer", "walk the dog", "bake a cake", "hang a picture", "sort my photos", "tune the piano"
        ]
        let items = chores.enumerated().map { i, chore -> String in
            let grumpy = "Ugh, \(chore)? Fine, if I must. Why is it always me?"
            let kind = "Of course! I would be glad to help you \(chore)."
            let (a, b) = i % 2 == 0 ? (grumpy, kind) : (kind, grumpy)
            return "    {\"question\": \"Could you help me \(chore)?\", \"a\": \"\(a)\", \"b\": \"\(b)\", \"trait\": \"\(i % 2 == 0 ? "a" : "b")\"}"
        }
        return "  \"behavior_items\": [\n" + items.joined(separator: ",\n") + "\n  ],\n"
    }

    /// Writes the pack to `folder/grumpy/pack.json` and returns the folder of the pack; with
    /// `behaviorItems`, the pack also has `behaviorItems` (for the behavioural measure and the search).
    public static func write(in folder: URL, behaviorItems withItems: Bool = false) throws -> URL {
        let dir = folder.appendingPathComponent("grumpy")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let text = withItems ? json.replacingOccurrences(of: "  \"eval_prompt\"", with: behaviorItems + "  \"eval_prompt\"") : json
        try Data(text.utf8).write(to: dir.appendingPathComponent("pack.json"))
        return dir
    }
}
