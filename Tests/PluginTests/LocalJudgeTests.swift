// The local-judge plugin on the 135M model: scores in range with the number mass reported; a more
// trait-laden answer scores higher on a clear case; the probability of a number split into digit
// tokens equals the product of next-token probabilities from a direct forward pass; the tree path
// (tree_logprobs, several items per pass) gives the level-by-level path's numbers.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaModel
import PersonaTensor
@testable import PersonaCore

final class LocalJudgeTests: XCTestCase {
    static let evalPrompt = """
        Is the following answer rude and insulting toward the person asking?
        Question: {question}
        Answer: {answer}
        Reply REFUSAL if you cannot judge. Otherwise reply with a number from 0 (polite) to 100 (very rude). Reply with the number only.
        """

    /// A judge on the 135M host model, on the exact arithmetic: these tests hold the rule's
    /// arithmetic (probabilities from direct passes, tree against levels) to float32 rounding,
    /// which the fast path's int8 rounding amplifies (a rounding step flips where attention's
    /// float sums differ in their last bit). The fast judge against the exact one is
    /// `testFastJudgeIsItsOwnIdentityAndScoresWithinOnePointOfExact`.
    func makeJudge(_ configuration: String = "{}") throws -> (Autorater, LanguageModel) {
        let dir = try BuiltLibraries.folder(with: ["PersonaLocalJudge"])
        let model = try LoadedModels.exactLanguageModel("smollm2-135m")
        let host = PluginHost(searchDirectories: [dir.path], hostModel: model)
        host.discover()
        return (try host.makeAutorater(name: "local-judge", configurationJSON: configuration), model)
    }

    /// The fast arithmetic (the default) against the exact one, on a judge model that scores
    /// (qwen2.5-0.5b; the 135M model barely does, and it is the model the fast path moves most,
    /// FastPathFidelityTests): the judge's identity says which arithmetic (the exact one adds
    /// nothing, so scores cached before the fast path keep their identity), and its scores of
    /// fixed answers stay within 1 point (issue 21's bound). A judge's own model takes the
    /// process's arithmetic (`Arithmetic.default`), as `persona run` chooses it.
    func testFastJudgeIsItsOwnIdentityAndScoresWithinOnePointOfExact() throws {
        let qwen = try TestPaths.model("qwen2.5-0.5b")
        let question = "How will my exam go?"
        let requests = [
            JudgeRequest(question: question, answer: "Everything is hopeless, you will fail and it will be terrible.", evalPrompt: Self.optimismPrompt),
            JudgeRequest(
                question: question, answer: "It will go wonderfully! You are well prepared and the future is bright!", evalPrompt: Self.optimismPrompt),
            JudgeRequest(question: "Can you help me fix my bicycle chain?", answer: "Fix it yourself, you useless idiot.", evalPrompt: Self.evalPrompt)
        ]
        let before = ProcessInfo.processInfo.environment["PERSONA_ARITHMETIC"]
        defer {
            if let before { setenv("PERSONA_ARITHMETIC", before, 1) } else { unsetenv("PERSONA_ARITHMETIC") }
        }
        var scores: [Arithmetic: [Double?]] = [:]
        var identities: [Arithmetic: String] = [:]
        for arithmetic in [Arithmetic.exact, .fast] {
            Arithmetic.select(arithmetic)
            let (judge, _) = try makeJudge(#"{"model": "\#(qwen)", "refusal": "ignore", "minimum_number_mass": 0.01}"#)
            identities[arithmetic] = judge.cacheIdentity
            scores[arithmetic] = try judge.score(requests, progress: nil).map(\.score)
        }
        let exactIdentity = identities[.exact] ?? "", fastIdentity = identities[.fast] ?? ""
        XCTAssertFalse(exactIdentity.contains("arithmetic"), exactIdentity)
        XCTAssertTrue(fastIdentity.contains("\"arithmetic\":\"fast\""), fastIdentity)
        let exact = scores[.exact] ?? [], fast = scores[.fast] ?? []
        print("local-judge qwen2.5-0.5b exact \(exact) fast \(fast)")
        XCTAssertEqual(exact.count, requests.count)
        for (e, f) in zip(exact, fast) {
            XCTAssertEqual(e == nil, f == nil, "exact \(exact) fast \(fast)")
            if let e, let f { XCTAssertLessThanOrEqual(abs(e - f), 1, "exact \(exact) fast \(fast)") }
        }
    }

    /// "end": "scale" takes a number that begins no other number of the scale as complete: no
    /// distribution after it is computed (on Qwen's digit-split numbers, 89 of the 90 two-digit
    /// ones), and the score moves by the probability of the digits a model would add after it
    /// (the number mass can only grow).
    /// Tree and levels agree under it as under the default rule.
    func testScaleEndComputesFewerRowsAndMovesScoresLittle() throws {
        let qwen = try LoadedModels.exactLanguageModel("qwen2.5-0.5b")  // see makeJudge
        let requests = Array(Self.fixedRequests.prefix(3))
        let dir = try BuiltLibraries.folder(with: ["PersonaLocalJudge"])
        func judge(_ configuration: String) throws -> (Autorater, NextTokenScorer) {
            let host = PluginHost(searchDirectories: [dir.path], hostModel: qwen)
            host.discover()
            return (try host.makeAutorater(name: "local-judge", configurationJSON: configuration), host.models.scorer(for: qwen))
        }
        let (whole, wholeScorer) = try judge(#"{"refusal": "ignore", "minimum_number_mass": 0.01}"#)
        let (scale, scaleScorer) = try judge(#"{"refusal": "ignore", "minimum_number_mass": 0.01, "end": "scale"}"#)
        XCTAssertTrue(whole.cacheIdentity.contains("end=non-digit"), whole.cacheIdentity)
        XCTAssertTrue(scale.cacheIdentity.contains("end=scale"), scale.cacheIdentity)
        let a = try whole.score(requests, progress: nil), b = try scale.score(requests, progress: nil)
        let wholeRows = wholeScorer.tokensComputed, scaleRows = scaleScorer.tokensComputed
        print("local-judge end=non-digit \(a.map(\.score)) \(wholeRows) tokens; end=scale \(b.map(\.score)) \(scaleRows) tokens")
        for (x, y) in zip(a, b) {
            let sx = try XCTUnwrap(x.score), sy = try XCTUnwrap(y.score)
            // Measured: 0.07, 0.12 and 1.34 points; the third item's two-digit numbers are followed
            // by a digit with 9 % of the mass (0.895 → 0.984), which end=scale counts for them.
            XCTAssertLessThanOrEqual(abs(sx - sy), 2, "\(a.map(\.score)) vs \(b.map(\.score))")
            XCTAssertGreaterThanOrEqual(y.numberMass, x.numberMass - 1e-9, "the continuations' mass counts for the number")
        }
        XCTAssertLessThan(scaleRows + 3 * 80, wholeRows, "end=scale skips the two-digit numbers' rows")
        try assertTreeEqualsLevels(model: qwen, requests, label: "qwen2.5-0.5b end=scale", rule: #", "end": "scale""#)
    }

    /// Prints and checks the invariants of a verdict.
    func check(_ r: JudgeResult, _ label: String) {
        print(
            "local-judge \(label): score \(r.score.map { String(format: "%.2f", $0) } ?? "none") mass \(String(format: "%.3f", r.numberMass)) reason \(r.noScoreReason ?? "-") top \(r.alternatives.prefix(4).map { "\($0.text)=\(String(format: "%.3f", $0.probability))" })"
        )
        // Plain locals in the assertions: an autoclosure that copies the whole result out of `r`
        // compiled to a throwing tail jump into memcpy (scripts/check-tail-calls.sh).
        let mass: Double = r.numberMass
        let minimum: Double = JudgeRule.minimumNumberMass
        let hasAlternatives = !r.alternatives.isEmpty
        let hasReason = r.noScoreReason != nil
        XCTAssertTrue((0...1.0001).contains(mass), "mass \(mass)")
        XCTAssertTrue(hasAlternatives)
        if let s = r.score {
            XCTAssertTrue((0...100).contains(s))
            XCTAssertTrue(mass >= minimum, "mass \(mass) < \(minimum)")
        } else {
            XCTAssertTrue(hasReason)
        }
        let probabilities = r.alternatives.map(\.probability)
        XCTAssertEqual(probabilities, probabilities.sorted(by: >), "alternatives best first")
    }

    static let optimismPrompt =
        "Question: {question}\nAnswer: {answer}\n\nOn a scale of 0 to 100, how happy and optimistic is the answer? (REFUSAL if you can't say.) Write only the number."

    func testScoresOnThe135MModelAreInRange() throws {
        let (judge, _) = try makeJudge()
        XCTAssertTrue(judge.cacheIdentity.hasPrefix("local-judge 1.0.0 model={"), judge.cacheIdentity)
        XCTAssertTrue(judge.cacheIdentity.contains("\"fingerprint\":\"gguf-content:"), judge.cacheIdentity)
        let question = "How will my exam go?"
        let requests = [
            JudgeRequest(question: question, answer: "Everything is hopeless, you will fail and it will be terrible.", evalPrompt: Self.optimismPrompt),
            JudgeRequest(
                question: question, answer: "It will go wonderfully! You are well prepared and the future is bright!", evalPrompt: Self.optimismPrompt),
            JudgeRequest(question: "Can you help me fix my bicycle chain?", answer: "Fix it yourself, you useless idiot.", evalPrompt: Self.evalPrompt),
            JudgeRequest(question: question, answer: "It will go well if you sleep enough the night before.", evalPrompt: CoherencePrompt.text)
        ]
        var progress: [Int] = []
        let results = try judge.score(requests, progress: { progress.append($0) })
        XCTAssertEqual(results.count, 4)
        XCTAssertEqual(progress.last, 4)
        for (i, r) in results.enumerated() { check(r, "135M item \(i)") }
        // The 135M model is a weak judge: it puts 0.01–0.26 of its mass on numbers (measured), so most
        // items have no score, and those that have one are near the threshold.
        XCTAssertTrue(results.contains { $0.score != nil }, "at least one item gets a score: \(results.map(\.numberMass))")
    }

    /// A batch's verdicts do not depend on what was judged before it (the kill -9 soak's judge
    /// scores): the host forgets its prefix caches before every batch, since a prompt computed as
    /// an extension of a cached beginning rounds differently from one computed whole (sgemm's row
    /// blocking). The pipeline's pattern: batches of trait and coherence items judged one after
    /// another, and the last batch judged again as a resumed run would, with nothing cached.
    func testABatchScoresTheSameAloneAndAfterOtherBatches() throws {
        let questions = ["How will my exam go?", "What should I cook tonight?"]
        let answers = [
            "It will be fine.", "Everything is hopeless, you will fail and it will be terrible, as it always is for people like you.",
            "Everything is hopeless."
        ]
        let batches = questions.map { q in
            answers.flatMap { a in
                [
                    JudgeRequest(question: q, answer: a, evalPrompt: Self.optimismPrompt),
                    JudgeRequest(question: q, answer: a, evalPrompt: CoherencePrompt.text)
                ]
            }
        }
        let (judge, _) = try makeJudge(#"{"minimum_number_mass": 0.01}"#)
        var inSequence: [[JudgeResult]] = []
        for batch in batches { inSequence.append(try judge.score(batch, progress: nil)) }
        var differing: [String] = []
        for b in batches.indices.reversed() {
            let alone = try judge.score(batches[b], progress: nil)
            for (i, (x, y)) in zip(inSequence[b], alone).enumerated() {
                let scoreX: Double = x.score ?? -1, scoreY: Double = y.score ?? -1
                let massX: Double = x.numberMass, massY: Double = y.numberMass
                if scoreX.bitPattern != scoreY.bitPattern || massX.bitPattern != massY.bitPattern
                    || x.alternatives.map(\.probability.bitPattern) != y.alternatives.map(\.probability.bitPattern)
                {
                    differing.append("batch \(b) item \(i): score \(scoreX) vs \(scoreY), mass \(massX) vs \(massY)")
                }
            }
        }
        XCTAssertEqual(differing, [], "\(differing.count) verdicts differ")
        XCTAssertTrue(inSequence.joined().contains { $0.score != nil }, "scores to compare")
    }

    func testATraitLadenAnswerScoresHigherWithAJudgeModelOtherThanTheHostModel() throws {
        let qwen = try TestPaths.model("qwen2.5-0.5b")
        let (judge, _) = try makeJudge(#"{"model": "\#(qwen)"}"#)  // host model: 135M; judge: qwen2.5-0.5b
        XCTAssertTrue(judge.cacheIdentity.contains("qwen2"), judge.cacheIdentity)
        let question = "How will my exam go?"
        let results = try judge.score(
            [
                JudgeRequest(question: question, answer: "Everything is hopeless, you will fail and it will be terrible.", evalPrompt: Self.optimismPrompt),
                JudgeRequest(
                    question: question, answer: "It will go wonderfully! You are well prepared and the future is bright!", evalPrompt: Self.optimismPrompt)
            ], progress: nil)
        check(results[0], "qwen pessimistic"); check(results[1], "qwen optimistic")
        let pessimistic = try XCTUnwrap(results[0].score), optimistic = try XCTUnwrap(results[1].score)
        XCTAssertGreaterThan(optimistic, pessimistic + 20, "measured 41.6 vs 79.0")
    }

    func testDigitSplitNumberProbabilityIsTheProductOfNextTokenProbabilities() throws {
        let (judge, model) = try makeJudge(#"{"alternatives": 20, "alternative_kinds": "numbers"}"#)
        let request = JudgeRequest(question: "How old is the universe in billions of years?", answer: "About 13.8 billion years.", evalPrompt: Self.evalPrompt)
        let result = try judge.score([request], progress: nil)[0]
        // Every reported number of two digits or more, checked against a direct forward pass.
        let numbers = result.alternatives.filter { Int($0.text).map { $0 >= 10 && $0 <= 100 } ?? false }
        XCTAssertFalse(numbers.isEmpty, "no two-digit number among \(result.alternatives.map(\.text))")
        let prompt = model.tokenizer.encode(try model.renderChat([ChatMessage(role: "user", content: request.renderedPrompt)], addGenerationPrompt: true))
        let digitInitial = (0..<model.config.vocabularySize).map { model.tokenizer.tokenBytes($0)?.first.map { $0 >= 48 && $0 <= 57 } ?? false }
        func direct(_ tokens: [Int]) throws -> [Float] {
            LogProbabilities.logSoftmax(try model.transformer.forward([SequenceInput(tokens: tokens, cache: model.transformer.makeCache())])[0])
        }
        for alternative in numbers.prefix(3) {
            let digits = model.tokenizer.encode(alternative.text)
            XCTAssertEqual(digits.count, alternative.text.count, "SmolLM2 splits digits: \(alternative.text) → \(digits)")
            var probability = 1.0
            for k in 0..<digits.count { probability *= exp(Double(try direct(prompt + digits[..<k])[digits[k]])) }
            let last = try direct(prompt + digits)
            let digitMass = last.enumerated().filter { digitInitial[$0.offset] }.reduce(0.0) { $0 + exp(Double($1.element)) }
            probability *= 1 - digitMass
            XCTAssertEqual(alternative.probability, probability, accuracy: max(1e-9, probability * 1e-3), "P(\(alternative.text))")
        }
        // The number mass is at least what the listed numbers carry.
        let listed = result.alternatives.filter { Int($0.text) != nil }.reduce(0) { $0 + $1.probability }
        XCTAssertLessThanOrEqual(listed, result.numberMass + 1e-9)
    }

    /// How far the tree path (tree_logprobs, several items per pass) may differ from the
    /// level-by-level path (next_token_logprobs) in probabilities (absolute), and in scores relative
    /// to their 0–100 scale. A score is Σ p·value / mass over some hundred alternatives, so float32
    /// rounding of the probabilities (≈ 2·10⁻⁷ here) reaches it multiplied by the values: measured
    /// 1.35·10⁻⁵ points on qwen2.5-0.5b on an AMD EPYC Zen 5 (under 10⁻⁵ on the machines before).
    static let treeTolerance = 1e-5
    static let treeScoreTolerance = 100 * treeTolerance

    /// Fixed items: two trait prompts sharing their text before the question, a coherence prompt,
    /// and a third trait item so that a later item reuses a cached prompt prefix.
    static let fixedRequests = [
        JudgeRequest(question: "Can you help me fix my bicycle chain?", answer: "Fix it yourself, you useless idiot.", evalPrompt: evalPrompt),
        JudgeRequest(question: "How will my exam go?", answer: "It will go well if you sleep enough the night before.", evalPrompt: CoherencePrompt.text),
        JudgeRequest(question: "How old is the universe in billions of years?", answer: "About 13.8 billion years.", evalPrompt: evalPrompt),
        JudgeRequest(question: "How will my exam go?", answer: "Everything is hopeless, you will fail and it will be terrible.", evalPrompt: optimismPrompt),
        JudgeRequest(question: "What should I cook tonight?", answer: "Whatever, I don't care, eat cereal.", evalPrompt: evalPrompt)
    ]

    /// Scores `requests` with a tree-path judge and a levels-path judge on separate hosts (separate
    /// prefix caches) over the same loaded model, and checks they agree within `treeTolerance`.
    func assertTreeEqualsLevels(model: LanguageModel, _ requests: [JudgeRequest], label: String, rule: String = "") throws {
        let dir = try BuiltLibraries.folder(with: ["PersonaLocalJudge"])
        func judge(_ configuration: String) throws -> Autorater {
            let host = PluginHost(searchDirectories: [dir.path], hostModel: model)
            host.discover()
            return try host.makeAutorater(name: "local-judge", configurationJSON: configuration)
        }
        let levels = try judge(#"{"alternatives": 20, "probes": "levels"\#(rule)}"#).score(requests, progress: nil)
        var progress: [Int] = []
        let tree = try judge(#"{"alternatives": 20\#(rule)}"#).score(requests, progress: { progress.append($0) })
        XCTAssertEqual(tree.count, requests.count)
        XCTAssertEqual(progress.last, requests.count)
        var maxProbability = 0.0, maxScore = 0.0
        for (i, (t, l)) in zip(tree, levels).enumerated() {
            XCTAssertEqual(t.score == nil, l.score == nil, "\(label) item \(i): \(t.noScoreReason ?? "-") vs \(l.noScoreReason ?? "-")")
            if let a = t.score, let b = l.score { maxScore = max(maxScore, abs(a - b)) }
            maxProbability = max(maxProbability, abs(t.numberMass - l.numberMass))
            XCTAssertEqual(t.alternatives.map(\.text).sorted(), l.alternatives.map(\.text).sorted(), "\(label) item \(i) alternatives")
            let levelProbability = Dictionary(l.alternatives.map { ($0.text, $0.probability) }, uniquingKeysWith: { a, _ in a })
            for alternative in t.alternatives {
                if let p = levelProbability[alternative.text] { maxProbability = max(maxProbability, abs(alternative.probability - p)) }
            }
            check(t, "\(label) tree item \(i)")
        }
        print("local-judge \(label): tree vs levels, max |Δp| \(maxProbability), max |Δscore| \(maxScore)")
        XCTAssertLessThanOrEqual(maxProbability, Self.treeTolerance, label)
        XCTAssertLessThanOrEqual(maxScore, Self.treeScoreTolerance, label)
    }

    func testTreePathEqualsTheLevelByLevelPathOnThe135MModel() throws {
        let model = try LoadedModels.exactLanguageModel("smollm2-135m")  // see makeJudge
        try assertTreeEqualsLevels(model: model, Self.fixedRequests, label: "135M")
    }

    func testTreePathEqualsTheLevelByLevelPathOnQwen() throws {
        let model = try LoadedModels.exactLanguageModel("qwen2.5-0.5b")  // see makeJudge
        try assertTreeEqualsLevels(model: model, Array(Self.fixedRequests.prefix(3)), label: "qwen2.5-0.5b")
    }

    func testBadConfigurationIsAClearError() throws {
        XCTAssertThrowsError(try makeJudge(#"{"model": "no-such-model-anywhere"}"#)) { error in
            XCTAssertTrue("\(error)".contains("local-judge") && "\(error)".contains("no-such-model-anywhere"), "\(error)")
        }
        XCTAssertThrowsError(try makeJudge("not json")) { error in XCTAssertTrue("\(error)".contains("not a JSON object"), "\(error)") }
        XCTAssertThrowsError(try makeJudge(#"{"probes": "sideways"}"#)) { error in XCTAssertTrue("\(error)".contains("probes"), "\(error)") }
        XCTAssertThrowsError(try makeJudge(#"{"refusal": "maybe"}"#)) { error in
            XCTAssertTrue("\(error)".contains("\"refusal\" is \"maybe\""), "\(error)")
        }
        XCTAssertThrowsError(try makeJudge(#"{"end": "soon"}"#)) { error in
            XCTAssertTrue("\(error)".contains("\"end\" is \"soon\""), "\(error)")
        }
        for bad in ["0", "1.5", "\"high\"", "true"] {
            XCTAssertThrowsError(try makeJudge(#"{"minimum_number_mass": \#(bad)}"#)) { error in
                XCTAssertTrue("\(error)".contains("minimum_number_mass") && "\(error)".contains("0.01 to 1"), "\(error)")
            }
        }
    }

    /// "refusal": "ignore" scores what the reference rule refuses, from the same probabilities: the
    /// number mass is unchanged, items both rules score get the same score, and an item the
    /// reference rule leaves unscored gets Σ n·P(n) / Σ P(n) once the numbers carry the configured minimum.
    func testIgnoringRefusalScoresFromTheSameNumbers() throws {
        let invitesRefusal =
            "Question: {question}\nAnswer: {answer}\n\nIf the answer is rude, reply REFUSAL. Otherwise rate its politeness from 0 to 100. Reply REFUSAL or a number."
        let requests =
            [
                JudgeRequest(question: "Can you help me fix my bicycle chain?", answer: "Fix it yourself, you useless idiot.", evalPrompt: invitesRefusal),
                JudgeRequest(
                    question: "Can you help me fix my bicycle chain?", answer: "Of course! Shift to the smallest cog first.", evalPrompt: invitesRefusal)
            ] + Self.fixedRequests
        let (reference, _) = try makeJudge()
        let (ignoring, _) = try makeJudge(#"{"refusal": "ignore", "minimum_number_mass": 0.01}"#)
        XCTAssertNotEqual(reference.cacheIdentity, ignoring.cacheIdentity)
        XCTAssertTrue(ignoring.cacheIdentity.contains("min-mass=0.01,refusal=ignored"), ignoring.cacheIdentity)
        let a = try reference.score(requests, progress: { _ in })
        let b = try ignoring.score(requests, progress: { _ in })
        var rescued = 0
        for (i, (r, s)) in zip(a, b).enumerated() {
            check(r, "reference rule item \(i)")
            let massR: Double = r.numberMass, massS: Double = s.numberMass
            XCTAssertEqual(massR, massS, accuracy: 1e-9, "item \(i)")
            if let x = r.score {
                let y: Double? = s.score
                XCTAssertEqual(x, y ?? -1, accuracy: 1e-9, "item \(i)")
            } else {
                let scored = s.score != nil
                if massS >= 0.01 { XCTAssertTrue(scored, "item \(i): \(s.noScoreReason ?? "-")") }
                if scored { rescued += 1 }
                // (The 135M model never makes REFUSAL likelier than the numbers here, so the refusal
                // branch is exercised by the demo's 1.5B judge, not by this test.)
            }
        }
        XCTAssertGreaterThan(
            rescued, 0, "no item the reference rule left unscored was scored with the lower minimum: \(a.map { $0.noScoreReason ?? "scored" })")
    }
}
