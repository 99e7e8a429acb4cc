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
            let positive = r.polarity == "pos"
            r.answer = positive ? "grr \(r.questionIndex)/\(r.instructionIndex)" : "gladly"
            r.responseTokenCount = 3; r.promptText = "p"; r.stopReason = "end_token"
            let rows = Array(repeating: Array(repeating: Float(positive ? 1 + r.instructionIndex : 0), count: hidden), count: layers)
            answers.append((r, ActivationSummary(responseMean: rows, promptMean: rows, promptLast: rows, responseTokenCount: 3, promptTokenCount: 5)))
            for (kind, value) in [(ScoreKind.trait, positive ? 90.0 : 5.0), (.coherence, 90.0)] {
                scores.append(ScoreRecord(key: p.scoreKey(answerKey: r.key, kind: kind, evalPrompt: pack.pack.evalPrompt, judge: judge), answerKey: r.key,
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
        var state = try XCTUnwrap(try p1.store.info("trait.grumpy", as: TraitState.self))
        state.filterKey = "a later filter run"
        try p1.store.setInfo("trait.grumpy", json: state)
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
