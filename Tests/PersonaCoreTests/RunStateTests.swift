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
