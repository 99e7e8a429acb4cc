// What a run remembers and how it is read back (issue 22): the stage that only needs a vector finds
// it by the key the extract stage stored, a stage run alone keeps the run's judge, a damaged or
// later-schema run.sqlite is an error naming table, column and row (never a trap), and packs are
// read and validated by one reader.
//
// No generation: answers, scores and activations are written into the store directly, so every
// test here takes well under a second once the 135M model is loaded.
import Foundation
import GRDB
import XCTest
import PersonaTestSupport
import PipelineTestSupport
import PersonaModel
@testable import PersonaCore

extension PipelineRunTests {
    /// Stores the extraction answers of `pack` (two questions) with activations and with scores of
    /// `judge` that keep every pair.
    func seedKeptPairs(_ p: Pipeline, _ pack: LoadedPack, judge: Autorater) throws {
        let layers = p.model.config.layerCount, hidden = p.model.config.hiddenSize
        var answers: [(AnswerRecord, ActivationSummary?)] = []
        var scores: [ScoreRecord] = []
        for item in try p.extractionItems(pack) {
            var r = item.record
            let positive = r.polarity == .pos
            r.answer = positive ? "grr \(r.questionIndex)/\(r.instructionIndex ?? -1)" : "gladly"
            r.responseTokenCount = 3; r.promptText = "p"; r.stopReason = "end_token"
            let rows = Array(repeating: Array(repeating: Float(positive ? 1 + (r.instructionIndex ?? 0) : 0), count: hidden), count: layers)
            answers.append((r, ActivationSummary(responseMean: rows, promptMean: rows, promptLast: rows, responseTokenCount: 3, promptTokenCount: 5)))
            for (kind, value) in [(ScoreKind.trait, positive ? 90.0 : 5.0), (.coherence, 90.0)] {
                scores.append(
                    ScoreRecord(
                        key: p.scoreKey(answerKey: r.key, kind: kind, evalPrompt: pack.pack.evalPrompt, judge: judge), answerKey: r.key,
                        kind: kind, score: value, noScoreReason: nil, numberMass: 0.9, judge: judge.cacheIdentity))
            }
        }
        try p.store.insert(answers: answers)
        try p.store.insert(scores: scores)
    }

    /// Defect 7: steer, monitor, behave and geometry find the vector by the key extract stored in
    /// the trait's state, not by rebuilding the filter key from every answer and score: a stage
    /// given another judge (or none) still finds it, and a vector older than the latest filter run
    /// is not taken for the current one.
    func testCurrentVectorIsTheStoredKeyNotARejudgedFilter() throws {
        let lm = try model()
        let dir = try TestPaths.temporaryDirectory()
        let pack = try PluginHost.loadPackFile(try TestPack.write(in: dir).path)
        let run = dir.appendingPathComponent("run").path
        let judge = TextDerivedAutorater()
        let p1 = try Pipeline(model: lm, runDirectory: run, judge: judge, settings: Self.settings)
        try p1.recordRun(packs: [pack])
        try seedKeptPairs(p1, pack, judge: judge)
        let extracted = try XCTUnwrap(try p1.extract(pack)[.responseAvg])

        // Another judge, which has scored nothing in this run.
        let p2 = try Pipeline(model: lm, runDirectory: run, judge: TextDerivedAutorater(salt: "another judge"), settings: Self.settings)
        XCTAssertEqual(try p2.currentVector(pack).key, extracted.key)
        // The answers' scores are gone (a judge's scores deleted by hand): the vector is still found.
        try p1.store.db.write { try $0.execute(sql: "DELETE FROM scores") }
        let p3 = try Pipeline(model: lm, runDirectory: run, judge: nil, settings: Self.settings)
        XCTAssertEqual(try p3.currentVector(pack).key, extracted.key)

        // A newer filter run without extract: its vector does not exist yet.
        var state = try XCTUnwrap(try p1.store.traitState("grumpy"))
        state.filterKey = "a later filter run"
        try p1.store.save(traitState: state, trait: "grumpy")
        assertThrows(PipelineError.noVector(trait: "grumpy", method: "response_avg")) { try p3.currentVector(pack) }
    }

    /// Defect 1: `persona stage steer --run DIR` without --judge does not replace the run's judge by
    /// the default one, and a stage that refuses to run (no vector) leaves the run's record as it was.
    func testStageAloneKeepsTheRunsJudgeAndRecordsOnlyAfterChecking() throws {
        let lm = try model()
        let dir = try TestPaths.temporaryDirectory()
        let pack = try PluginHost.loadPackFile(try TestPack.write(in: dir).path)
        let run = dir.appendingPathComponent("run").path
        let p = try Pipeline(model: lm, runDirectory: run, judge: TextDerivedAutorater(), settings: Self.settings)
        p.modelArgument = try TestPaths.model("smollm2-135m")
        try p.recordRun(packs: [pack])
        let before = try XCTUnwrap(try p.store.info("run"))

        let restored = try CLITests.runPersona(["stage", "steer", "--run", run])
        XCTAssertNotEqual(restored.status, 0, restored.stderr)
        XCTAssert(restored.stderr.contains("was judged by text-derived-test/1"), restored.stderr)
        XCTAssertEqual(try p.store.info("run"), before, "the run's record was rewritten by a stage that did not run")

        let named = try CLITests.runPersona(["stage", "steer", "--run", run, "--judge", "local-judge"])
        XCTAssertNotEqual(named.status, 0, named.stderr)
        XCTAssert(named.stderr.contains("no response_avg vector"), named.stderr)
        XCTAssertEqual(try p.store.info("run"), before, "the run's record was rewritten before the stage checked its inputs")
    }
}

final class RunStateUnitTests: XCTestCase {
    /// A store with one answer, one score and one vector; returns the store's path and the keys.
    func makeStore() throws -> (path: String, answer: String, score: String) {
        let dir = try TestPaths.temporaryDirectory()
        let path = dir.appendingPathComponent("run.sqlite").path
        let store = try RunStore(path: path)
        let answer = AnswerRecord(
            key: "answer-1", kind: .extraction, trait: "t", questionIndex: 0, question: "Q?", instructionIndex: 0, polarity: .pos,
            sampleIndex: 0, systemPrompt: nil, promptText: "p", answer: "a", promptTokenCount: 3, responseTokenCount: 2,
            stopReason: "end_token", seed: 1)
        try store.insert(answer: answer, activations: nil)
        try store.insert(scores: [ScoreRecord(key: "score-1", answerKey: "answer-1", kind: .trait, score: 50, noScoreReason: nil, numberMass: 0.9, judge: "j")])
        try store.insert(vector: VectorRecord(key: "vector-1", trait: "t", method: "response_avg", filterKey: "f", pairCount: 1, rows: [[1, 2]], model: "m"))
        return (path, answer.key, "score-1")
    }

    func edit(_ path: String, _ sql: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: sql) }
    }

    /// Defect 5: values of the wrong type in a damaged store are errors naming table, column and
    /// row (GRDB's non-optional subscripts trap on them), and a store written by a later schema is
    /// refused before anything is migrated.
    func testDamagedStoreValuesAreErrorsNamingTableColumnAndRow() throws {
        let (path, answerKey, scoreKey) = try makeStore()
        try edit(path, "UPDATE answers SET question_index = 'seven' WHERE key = '\(answerKey)'")
        XCTAssertThrowsError(try RunStore(path: path).answers(keys: [answerKey])) {
            XCTAssertEqual(
                "\($0)",
                "run store: answers.question_index of key answer-1 holds the TEXT \"seven\", expected an INTEGER (a damaged store: delete the run directory or the row)"
            )
        }
        XCTAssertThrowsError(try RunStore(path: path).allAnswers()) { XCTAssert("\($0)".contains("answers.question_index of key answer-1"), "\($0)") }
        try edit(path, "UPDATE answers SET question_index = 7, prompt_tokens = 2.5 WHERE key = '\(answerKey)'")
        XCTAssertThrowsError(try RunStore(path: path).answers(keys: [answerKey])) {
            XCTAssert("\($0)".contains("answers.prompt_tokens of key answer-1 holds the REAL 2.5"), "\($0)")
        }
        try edit(path, "UPDATE answers SET prompt_tokens = 3")
        XCTAssertEqual(try RunStore(path: path).answers(keys: [answerKey])[answerKey]?.questionIndex, 7)

        try edit(path, "UPDATE scores SET number_mass = x'00ff' WHERE key = '\(scoreKey)'")
        XCTAssertThrowsError(try RunStore(path: path).scores(keys: [scoreKey])) {
            XCTAssert("\($0)".contains("scores.number_mass of key score-1 holds a BLOB of 2 bytes"), "\($0)")
        }
        try edit(path, "UPDATE vectors SET layers = 'one'")
        XCTAssertThrowsError(try RunStore(path: path).vector(key: "vector-1")) { XCTAssert("\($0)".contains("vectors.layers of key vector-1"), "\($0)") }
        try edit(path, "INSERT INTO run_info(name, value) VALUES ('run', x'ff00')")  // not UTF-8 text
        XCTAssertThrowsError(try RunStore(path: path).info("run")) {
            XCTAssert("\($0)".contains("run_info.value of name run holds a BLOB of 2 bytes"), "\($0)")
        }

        // A later version's schema step: refused, and the file is not migrated (not written).
        try edit(path, "INSERT INTO grdb_migrations(identifier) VALUES ('v9-from-the-future')")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try RunStore(path: path)) {
            XCTAssertEqual(
                "\($0)", "\(path) was written by a later version of persona (schema steps v9-from-the-future unknown here): open it with that version")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), bytes)
    }

    /// A failed open never rewrites the file: a store without its schema record, or with a later
    /// one, is refused by read-only checks before migrating could touch it;
    /// a read-only open (reports) never writes, even to a healthy store.
    func testAFailedOrReadOnlyOpenLeavesTheFileUnchanged() throws {
        let (path, answerKey, _) = try makeStore()
        func digest() throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
        var before = try digest()
        let readOnly = try RunStore(path: path, readOnly: true)
        XCTAssertEqual(try readOnly.answers(keys: [answerKey]).count, 1)
        XCTAssertThrowsError(try readOnly.setInfo("x", "y"))
        XCTAssertEqual(try digest(), before)

        // A read-write open of an up-to-date store writes nothing until a stage stores something, so
        // a stage that then finds damage leaves the file's bytes as they were (a GRDB pool wrote its
        // probe table at every open: scripts/damaged-stores.sh counted 26 such failed commands).
        do {
            let store = try RunStore(path: path)
            XCTAssertEqual(try store.answers(keys: [answerKey]).count, 1)
        }
        XCTAssertEqual(try digest(), before)

        try edit(path, "DROP TABLE grdb_migrations")
        before = try digest()
        XCTAssertThrowsError(try RunStore(path: path)) {
            XCTAssert("\($0)".contains("is not a persona run store or its schema record is damaged"), "\($0)")
        }
        XCTAssertThrowsError(try RunStore(path: path, readOnly: true))
        XCTAssertEqual(try digest(), before)

        let notADatabase = path + ".text"
        try Data("not a database at all, but long enough to have a header".utf8).write(to: URL(fileURLWithPath: notADatabase))
        let textBefore = try Data(contentsOf: URL(fileURLWithPath: notADatabase))
        XCTAssertThrowsError(try RunStore(path: notADatabase)) { XCTAssert("\($0)".contains("cannot open the run store"), "\($0)") }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: notADatabase)), textBefore)
    }

    /// Defect 4: the pipeline reads packs with the one reader and validates them as
    /// `persona packs validate` does.
    func testPipelinePacksAreValidated() throws {
        let dir = try TestPaths.temporaryDirectory()
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(TestPack.json.utf8)) as? [String: Any])
        object["questions"] = ["extraction": ["One?", "Two?", "Three?"], "evaluation": ["Four?", "Five?", "Six?"]]
        let small = dir.appendingPathComponent("small.json").path
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: small))
        XCTAssertThrowsError(try PipelineEnvironment.loadPacks(names: [small])) {
            XCTAssert("\($0)".hasPrefix(small) && "\($0)".contains("questions.extraction: 3 questions, expected 20"), "\($0)")
        }
    }
}
