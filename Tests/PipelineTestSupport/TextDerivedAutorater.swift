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
        return JudgeResult(score: value, noScoreReason: nil, numberMass: 0.9,
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

/// A small trait pack for pipeline tests (5 instruction pairs, 3 + 3 questions).
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
        "extraction": ["What is your favourite season?", "How do I boil an egg?", "What should I read next?"],
        "evaluation": ["Can you recommend a film?", "How do plants grow?", "What is a good hobby?"]
      },
      "eval_prompt": "Rate how grumpy this answer is.\\nQuestion: {question}\\nAnswer: {answer}\\nReply with a number from 0 to 100, or REFUSAL."
    }
    """

    /// Writes the pack to `folder/grumpy/pack.json` and returns the folder of the pack.
    public static func write(in folder: URL) throws -> URL {
        let dir = folder.appendingPathComponent("grumpy")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(json.utf8).write(to: dir.appendingPathComponent("pack.json"))
        return dir
    }
}
