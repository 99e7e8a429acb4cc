// Pipeline pieces without a model: the run store's round trips, the filter rules, the extraction
// arithmetic, the system prompt, cache keys and the pack loader's errors.
import Foundation
import XCTest
import PersonaTestSupport
import PipelineTestSupport
@testable import PersonaCore

final class PipelineUnitTests: XCTestCase {
    func testStoreRoundTrips() throws {
        let dir = try TestPaths.temporaryDirectory()
        let store = try RunStore(path: RunStore.databasePath(runDirectory: dir.path))
        let a = AnswerRecord(
            key: "k1", kind: .extraction, trait: "evil", questionIndex: 3, question: "Q?", instructionIndex: 2, polarity: .pos,
            sampleIndex: 1, systemPrompt: "You are an evil assistant. Be bad.", promptText: "<prompt>", answer: "Answer é 😀",
            promptTokenCount: 17, responseTokenCount: 9, stopReason: "end_token", seed: UInt64.max - 5)
        let summary = ActivationSummary(
            responseMean: [[1, 2.5, -3], [4, 5, 6]], promptMean: [[0.1, 0.2, 0.3], [-1, -2, -3]],
            promptLast: [[7, 8, 9], [1e-30, .greatestFiniteMagnitude, -0.0]], responseTokenCount: 9, promptTokenCount: 17)
        try store.insert(answer: a, activations: summary)
        var steered = a
        steered.key = "k2"; steered.kind = .steered; steered.steeringLayer = 12; steered.coefficient = -1.5; steered.vectorKey = "v"; steered.systemPrompt = nil
        try store.insert(answer: steered, activations: nil)
        XCTAssertEqual(try store.answers(keys: ["k1", "k2", "missing"]), ["k1": a, "k2": steered])
        XCTAssertEqual(try store.activations(answerKey: "k1"), summary)
        XCTAssertNil(try store.activations(answerKey: "k2"))

        let scores = [
            ScoreRecord(key: "s1", answerKey: "k1", kind: .trait, score: 73.25, noScoreReason: nil, numberMass: 0.9, judge: "j"),
            ScoreRecord(key: "s2", answerKey: "k1", kind: .coherence, score: nil, noScoreReason: "refused", numberMass: 0.1, judge: "j")
        ]
        try store.insert(scores: scores)
        XCTAssertEqual(try store.scores(keys: ["s1", "s2"]), ["s1": scores[0], "s2": scores[1]])

        let decisions = [
            PairDecision(questionIndex: 0, instructionIndex: 1, sampleIndex: 0, positiveKey: "p", negativeKey: "n", kept: true, reason: nil),
            PairDecision(
                questionIndex: 1, instructionIndex: 0, sampleIndex: 2, positiveKey: "p2", negativeKey: "n2", kept: false, reason: "positive trait < 50")
        ]
        XCTAssertNil(try store.decisions(filterKey: "f"))
        try store.insert(filterKey: "f", trait: "evil", decisions: decisions)
        XCTAssertEqual(try store.decisions(filterKey: "f"), decisions)

        let v = VectorRecord(key: "v", trait: "evil", method: "response_avg", filterKey: "f", pairCount: 4, rows: [[1, 2, 3], [4, 5, 6]], model: "m")
        try store.insert(vector: v)
        XCTAssertEqual(try store.vector(key: "v"), v)
        let r = SteeringResultRecord(
            key: "r", trait: "evil", vectorKey: "v", layer: 12, coefficient: 2, positions: "response",
            meanTrait: 61.5, meanCoherence: nil, scoredCount: 3, answerCount: 4)
        try store.insert(steeringResult: r)
        XCTAssertEqual(try store.steeringResult(key: "r"), r)
        let p = ProjectionRecord(trait: "evil", vectorKey: "v", layer: 12, answerKey: "k1", condition: .baseline, source: "response_mean", value: -0.25)
        try store.insert(projections: [p])
        XCTAssertEqual(try store.projections(vectorKey: "v", layer: 12), [p])

        // Reopening sees everything; the journal is WAL.
        let reopened = try RunStore.open(runDirectory: dir.path)
        XCTAssertEqual(try reopened.answers(keys: ["k1"])["k1"], a)
        XCTAssertEqual(try reopened.count("answers"), 2)
        XCTAssertEqual(RunStore.peekCount(path: store.path, table: "scores"), 2)
        let mode = try reopened.db.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        XCTAssertEqual(mode, "wal")
        // A damaged blob is a clear error, not a crash.
        try reopened.db.write { try $0.execute(sql: "UPDATE vectors SET data = x'0102' WHERE key = 'v'") }
        assertThrows(RunStoreError.badBlob(table: "vectors", column: "data", key: "v", bytes: 2, expected: 24)) { try reopened.vector(key: "v") }
        assertThrows(RunStoreError.notARunStore(path: dir.appendingPathComponent("nothing").path)) {
            try RunStore.open(runDirectory: dir.appendingPathComponent("nothing").path)
        }
    }

    func testFilterRules() {
        func pair(_ pt: Double?, _ nt: Double?, _ pc: Double?, _ nc: Double?) -> CandidatePair {
            CandidatePair(
                question: "q", instructionIndex: 0, sampleIndex: 0, positiveAnswer: "a", negativeAnswer: "b",
                positiveTrait: pt, negativeTrait: nt, positiveCoherence: pc, negativeCoherence: nc)
        }
        func reason(_ p: CandidatePair, t: Double = 50, c: Double = 50, tokens: (Int, Int) = (5, 5)) -> String? {
            Pipeline.thresholdDropReason(
                p, positiveTokens: tokens.0, negativeTokens: tokens.1, traitThreshold: t, coherenceThreshold: c,
                noScoreReasons: ["neg.trait": "refusal"])
        }
        XCTAssertNil(reason(pair(50, 49.9, 50, 50)), "boundaries: pos ≥ T, neg < 100 − T, coherence ≥ C keep")
        XCTAssertEqual(reason(pair(49.9, 10, 90, 90)), "positive trait < 50")
        XCTAssertEqual(reason(pair(90, 50, 90, 90)), "negative trait ≥ 50")
        XCTAssertEqual(reason(pair(90, 10, 49, 90)), "positive coherence < 50")
        XCTAssertEqual(reason(pair(90, 10, 90, 10)), "negative coherence < 50")
        XCTAssertEqual(reason(pair(nil, 10, 90, 90)), "positive trait: no score")
        XCTAssertEqual(reason(pair(90, nil, 90, 90)), "negative trait: no score (refusal)")
        XCTAssertEqual(reason(pair(90, 10, 90, nil)), "negative coherence: no score")
        XCTAssertEqual(reason(pair(90, 10, 90, 90), tokens: (0, 5)), "empty positive answer")
        // T = 70: pos ≥ 70, neg < 30.
        XCTAssertNil(reason(pair(70, 29, 60, 60), t: 70, c: 60))
        XCTAssertEqual(reason(pair(70, 30, 60, 60), t: 70, c: 60), "negative trait ≥ 30")
        XCTAssertEqual(reason(pair(69, 0, 60, 60), t: 70, c: 60), "positive trait < 70")
    }

    func testMeanDifferenceMatchesHandComputation() {
        // Two layers, width 2; positives {[[1,2],[3,4]], [[3,6],[5,0]]}, negatives {[[0,0],[1,1]]}.
        let v = Pipeline.meanDifference(positive: [[[1, 2], [3, 4]], [[3, 6], [5, 0]]], negative: [[[0, 0], [1, 1]]])
        // layer 0: mean pos (2, 4) − (0, 0); layer 1: mean pos (4, 2) − (1, 1).
        XCTAssertEqual(v, [[2, 4], [3, 1]])
        XCTAssertEqual(Pipeline.cosine([1, 0], [0, 2]), 0)
        XCTAssertEqual(Pipeline.cosine([1, 1], [2, 2]), 1, accuracy: 1e-12)
        XCTAssertEqual(Pipeline.pearson([(1, 2), (2, 4), (3, 6)])!, 1, accuracy: 1e-12)
        XCTAssertNil(Pipeline.pearson([(1, 2), (1, 4), (1, 6)]))
    }

    func testSystemPromptArticleAndCacheKeys() {
        XCTAssertEqual(Pipeline.systemPrompt(assistantName: "evil", instruction: "Be bad."), "You are an evil assistant. Be bad.")
        XCTAssertEqual(Pipeline.systemPrompt(assistantName: "helpful", instruction: "Be good."), "You are a helpful assistant. Be good.")
        XCTAssertEqual(Pipeline.systemPrompt(assistantName: "optimistic", instruction: "x"), "You are an optimistic assistant. x")
        XCTAssertEqual(CacheKey.make(["a", "b"]), CacheKey.make(["a", "b"]))
        XCTAssertNotEqual(CacheKey.make(["ab", ""]), CacheKey.make(["a", "b"]))
        XCTAssertNotEqual(CacheKey.seed(["x", "1"]), CacheKey.seed(["x", "2"]))
    }

    func testBestLayerPrefersLargestCoherentEffect() {
        func r(_ layer: Int, _ c: Double, _ t: Double, _ coh: Double) -> SteeringResultRecord {
            SteeringResultRecord(
                key: "\(layer)/\(c)", trait: "t", vectorKey: "v", layer: layer, coefficient: c, positions: "response",
                meanTrait: t, meanCoherence: coh, scoredCount: 1, answerCount: 1)
        }
        // Layer 5 moves the trait by 60 but incoherently; layer 7 by 30 coherently; layer 9 by 10.
        let results = [5: [r(5, 0, 10, 90), r(5, 2, 70, 20)], 7: [r(7, 0, 10, 90), r(7, 2, 40, 60)], 9: [r(9, 0, 10, 90), r(9, 2, 20, 90)]]
        XCTAssertEqual(Pipeline.bestLayer(results), 7)
    }

    func testPackLoaderErrorsNameFileAndField() throws {
        let dir = try TestPaths.temporaryDirectory()
        let good = try TestPack.write(in: dir)
        let pack = try PluginHost.loadPackFile(good.path)
        XCTAssertEqual(pack.name, "grumpy")
        XCTAssertEqual(pack.pack.instructions.count, 5)
        XCTAssertEqual(try PipelineEnvironment.loadPacks(names: [good.path]).first?.contentHash, pack.contentHash)
        let path = dir.appendingPathComponent("bad.json").path
        func load(_ edit: (inout [String: Any]) -> Void) throws -> [LoadedPack] {
            var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(TestPack.json.utf8)) as? [String: Any])
            edit(&object)
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
            return try PipelineEnvironment.loadPacks(names: [path])
        }
        func assertError(_ expected: String, _ edit: (inout [String: Any]) -> Void, line: UInt = #line) {
            XCTAssertThrowsError(try load(edit), line: line) { XCTAssert("\($0)".hasPrefix(path) && "\($0)".contains(expected), "\($0)", line: line) }
        }
        assertError("missing field eval_prompt") { $0["eval_prompt"] = nil }
        assertError("field instructions[1] is not a") { $0["instructions"] = [["pos": "a", "neg": "b"], "oops"] }
        assertError("missing field instructions[0].neg") { $0["instructions"] = [["pos": "a"]] }
        assertError("field questions.extraction[1] is not a") { $0["questions"] = ["extraction": ["q", 3], "evaluation": ["e"]] }
        // Well-formed packs that break the rules: the pipeline validates as `persona packs validate` does.
        assertError("name \"Bad Name\" must match") { $0["name"] = "Bad Name" }
        assertError("eval_prompt has no {answer} placeholder") { $0["eval_prompt"] = "Rate {question}: REFUSAL or 0 to 100" }
        assertError("questions.extraction: 3 questions, expected 20") { $0["questions"] = ["extraction": ["a?", "b?", "c?"], "evaluation": ["d?"]] }
        try Data("{\"name\": ".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try PipelineEnvironment.loadPacks(names: [path])) {
            XCTAssert("\($0)".contains(path) && "\($0)".contains("not valid JSON"), "\($0)")
        }
        XCTAssertThrowsError(try PipelineEnvironment.loadJudge(name: "no-such-judge", config: nil, model: nil)) {
            XCTAssert("\($0)".hasPrefix("judge plugin 'no-such-judge' was not found"), "\($0)")
        }
        // A real judge without a model to judge with: the plugin's own error, naming it.
        XCTAssertThrowsError(try PipelineEnvironment.loadJudge(name: "local-judge", config: nil, model: nil)) {
            XCTAssert("\($0)".contains("local-judge"), "\($0)")
        }
    }

    func testSummaryTable() {
        let table = TraitSummary.table(
            [
                TraitSummary(
                    trait: "evil", pairsKept: 7, pairsTotal: 10, vectorNorm: 3.14159,
                    judgeQuality: JudgeQuality(positive: [90, 70], negative: [10, 75], coherence: []),
                    points: [
                        .init(coefficient: -2, meanTrait: 5, meanCoherence: 90, traitProbability: 0.25),
                        .init(coefficient: 0, meanTrait: 12.25, meanCoherence: 80),
                        .init(coefficient: 2)
                    ]),
                TraitSummary(trait: "sycophantic", pairsKept: 0, pairsTotal: 10, failure: "none kept")
            ], layer: 12, coefficients: [-2, 0, 2])
        let lines = table.split(separator: "\n").map(String.init)
        func words(_ i: Int) -> [Substring] { lines[i].split(separator: " ", omittingEmptySubsequences: true) }
        XCTAssertEqual(words(0), ["trait", "pairs", "kept", "judge", "AUC", "‖v‖", "@12", "measure", "c=-2", "c=0", "c=2"])
        XCTAssertEqual(words(2), ["evil", "7/10", "0.75", "3.14", "trait", "score", "5.0", "12.2", "-"])
        XCTAssertEqual(words(3), ["coherence", "90.0", "80.0", "-"])
        XCTAssertEqual(words(4), ["P(trait", "answer)", "0.250", "-", "-"])
        XCTAssertEqual(words(5), ["sycophantic", "0/10", "-", "-", "no", "pairs", "kept"])
    }

}
