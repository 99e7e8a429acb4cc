// The pipeline end to end on the 135M model with a small configuration (2 questions, 1 sample,
// 24 tokens): every stage runs, cache keys make re-runs reuse what is valid, changing only the
// coefficients re-runs only steering, and a run killed with SIGKILL mid-generate and mid-judge
// resumes to exactly the store of an uninterrupted run.
//
// Judging uses `TextDerivedAutorater` (test-only, deterministic: resume and cache tests need scores
// that do not depend on a model); the real `local-judge` plugin runs the whole pipeline in
// PipelineEndToEndTests.
import Foundation
import XCTest
import PersonaTestSupport
import PipelineTestSupport
import PersonaModel
@testable import PersonaCore

final class PipelineRunTests: XCTestCase {
    static let lock = NSLock()
    nonisolated(unsafe) static var cachedModel: LanguageModel?

    func model() throws -> LanguageModel {
        Self.lock.lock(); defer { Self.lock.unlock() }
        if let m = Self.cachedModel { return m }
        let m = try LanguageModel(source: ModelLocator.open(try TestPaths.model("smollm2-135m")))
        Self.cachedModel = m
        return m
    }

    /// The small configuration every test here uses.
    static var settings: PipelineSettings {
        var s = PipelineSettings()
        s.questions = 2; s.evaluationQuestions = 2; s.samples = 1; s.maxTokens = 24; s.seed = 7; s.batchSize = 4
        s.traitThreshold = 30; s.coherenceThreshold = 40
        s.coefficients = [0, 2]; s.steerMaxTokens = 16; s.layer = 15
        return s
    }

    func computed(_ p: Pipeline, _ stage: String) -> Int { p.reports.filter { $0.stage == stage }.map(\.computed).reduce(0, +) }

    func testStagesCacheReuseAndCoefficientsOnlyRerunSteer() throws {
        let lm = try model()
        let dir = try TestPaths.temporaryDirectory()
        let pack = try PluginHost.loadPackFile(try TestPack.write(in: dir).path)
        let run = dir.appendingPathComponent("run").path

        // First run: everything is computed.
        let judge1 = TextDerivedAutorater()
        let p1 = try Pipeline(model: lm, runDirectory: run, judge: judge1, settings: Self.settings)
        let summary = try p1.run([pack])
        XCTAssertEqual(computed(p1, "generate"), 2 * 5 * 2, "2 questions × 5 instructions × 2 polarities × 1 sample")
        XCTAssertEqual(computed(p1, "judge"), 40, "trait and coherence for each answer")
        XCTAssertEqual(computed(p1, "steer"), 4, "2 evaluation questions × 2 coefficients")
        XCTAssertEqual(computed(p1, "monitor"), 4, "positive and negative prompts; the baseline is coefficient 0")
        XCTAssertGreaterThan(summary[0].pairsKept, 0, "\(summary)")
        XCTAssertEqual(summary[0].pairsTotal, 10)
        XCTAssertEqual(summary[0].points.map(\.coefficient), [0, 2])

        // The vector is the mean difference of the kept pairs' stored activations (checked by hand at layer 15).
        let outcome = try p1.filter(pack)
        let kept = outcome.decisions.filter(\.kept)
        var expected = [Double](repeating: 0, count: 576)
        for d in kept {
            let pos = try XCTUnwrap(p1.store.activations(answerKey: d.positiveKey)).responseMean[15]
            let neg = try XCTUnwrap(p1.store.activations(answerKey: d.negativeKey)).responseMean[15]
            for j in 0..<576 { expected[j] += (Double(pos[j]) - Double(neg[j])) / Double(kept.count) }
        }
        let file = try TraitVectors.read(path: p1.vectorFilePath(trait: "grumpy", method: .responseAvg))
        XCTAssertEqual(file.rows.count, 30)
        XCTAssertEqual(file.metadata["persona.trait"], "grumpy")
        XCTAssertEqual(file.metadata["persona.method"], "response_avg")
        XCTAssertEqual(file.metadata["persona.model"], lm.fingerprint)
        XCTAssertEqual(file.metadata["persona.layers"], "block-output")
        XCTAssertEqual(file.metadata["persona.pairs"], String(kept.count))
        let worst = zip(file.rows[15], expected).map { abs(Double($0) - $1) }.max() ?? .infinity
        XCTAssertLessThan(worst, 1e-4, "max difference \(worst)")
        // Every dropped pair has its reason.
        XCTAssert(outcome.decisions.allSatisfy { $0.kept == ($0.reason == nil) })

        // Same settings: nothing is recomputed, the judge is never called.
        let judge2 = TextDerivedAutorater()
        let p2 = try Pipeline(model: lm, runDirectory: run, judge: judge2, settings: Self.settings)
        _ = try p2.run([pack])
        XCTAssertEqual(p2.reports.map(\.computed).reduce(0, +), 0, "\(p2.reports)")
        XCTAssertEqual(judge2.calls, 0)

        // Only the coefficients change: only steering generates and judges (the new coefficient's answers).
        var s3 = Self.settings
        s3.coefficients = [0, 1, 2]
        let judge3 = TextDerivedAutorater()
        let p3 = try Pipeline(model: lm, runDirectory: run, judge: judge3, settings: s3)
        let summary3 = try p3.run([pack])
        for stage in ["generate", "judge", "filter", "extract", "monitor", "monitor-judge"] {
            XCTAssertEqual(computed(p3, stage), 0, "\(stage) recomputed: \(p3.reports)")
        }
        XCTAssertEqual(computed(p3, "steer"), 2)
        XCTAssertEqual(computed(p3, "steer-judge"), 4)
        XCTAssertEqual(judge3.calls, 4)
        let evaluation = Set(pack.pack.questions.evaluation)
        XCTAssert(judge3.requests.allSatisfy { evaluation.contains($0.question) }, "only steered evaluation answers were judged")
        XCTAssertEqual(summary3[0].points.map(\.coefficient), [0, 1, 2])
        // The store's own log says the same.
        let log = try p3.store.stageLog(invocation: p3.invocation)
        XCTAssertEqual(log.filter { $0.stage == "generate" || $0.stage == "judge" }.map(\.computed), [0, 0])

        // A layer sweep: only the new layers' steered answers are made; the best layer is one of them.
        var s5 = Self.settings
        s5.sweepLayers = [10, 20]
        let p5 = try Pipeline(model: lm, runDirectory: run, judge: TextDerivedAutorater(), settings: s5)
        let sweep = try p5.steer(pack)
        XCTAssertEqual(computed(p5, "steer"), 4, "layers 10 and 20 at coefficient 2; coefficient 0 is shared")
        XCTAssertEqual(sweep.sweep.map(\.layer), [15, 15, 10, 10, 20, 20])
        if let best = sweep.bestLayer { XCTAssert([10, 15, 20].contains(best)) }

        // A parameter of generation changes: every extraction answer is recomputed.
        var s4 = Self.settings
        s4.maxTokens = 20
        let p4 = try Pipeline(model: lm, runDirectory: run, judge: TextDerivedAutorater(), settings: s4)
        XCTAssertEqual(try p4.generate(pack).computed, 20)

        // The report data comes from the store alone.
        let report = try RunReport.build(runDirectory: run)
        let trait = try XCTUnwrap(report.traits.first)
        XCTAssertEqual(trait.vectorNorms.count, 30)
        XCTAssertEqual(trait.steering.map(\.coefficient), [0, 2], "the latest steering run (the sweep's settings)")
        XCTAssertEqual(trait.layerSweep.count, 6)
        XCTAssertEqual(trait.steeringLayer, 15)
        XCTAssertEqual(
            Set(trait.projections.map(\.condition)), ["baseline", "positive prompt", "negative prompt", "steered +1", "steered +2"],
            "monitoring ran with coefficients 0, 1, 2")
        XCTAssertFalse(trait.examples.isEmpty)
        XCTAssertEqual(report.geometry?.cosine.first?.first ?? 0, 1, accuracy: 1e-9)
    }

    /// The search inside the pipeline: both sources searched and stored with their provenance, a
    /// choice (or the reason for none), the steer stage judging the chosen point beside c = 0, a
    /// resumed run reusing every search, and the report carrying it all.
    func testSearchStageChoosesThePointSteerJudgesAndTheReportShows() throws {
        let lm = try model()
        let dir = try TestPaths.temporaryDirectory()
        let pack = try PluginHost.loadPackFile(try TestPack.write(in: dir, behaviorItems: true).path)
        let run = dir.appendingPathComponent("run").path
        var s = Self.settings
        s.searchSources = ["prompted", "written"]
        s.searchLayers = [10, 15]
        s.searchCoefficients = [-0.1, 0, 0.2]
        s.searchMaxKL = 5
        let p1 = try Pipeline(model: lm, runDirectory: run, judge: TextDerivedAutorater(), settings: s)
        let summary = try XCTUnwrap(try p1.run([pack]).first)
        let search = try XCTUnwrap(summary.search)
        XCTAssertEqual(search.results.map(\.source).sorted(), ["prompted", "written"], "\(summary)")
        for r in search.results {
            XCTAssertEqual(r.points.count, 6, "2 layers × 3 coefficients")
            XCTAssertEqual(r.measurementItems, 10, "the odd-numbered half of 20 items")
            XCTAssertEqual(r.coefficientUnit, "norm")
            // The chosen layer's anti-steerable fraction, over its three coefficients (a share of 10 items).
            XCTAssertEqual(r.antiSteerableFraction == nil, r.chosen == nil, "\(r)")
            if let anti = r.antiSteerableFraction { XCTAssertEqual((anti * 10).rounded(), anti * 10, accuracy: 1e-9); XCTAssert((0...1).contains(anti)) }
            XCTAssert(r.points.filter { $0.coefficient == 0 }.allSatisfy { $0.effect == 0 && $0.coherenceCost == 0 })
        }
        // The written vector is stored with its provenance and written beside the extracted ones.
        let written = try TraitVectors.read(path: run + "/vectors/grumpy_written_response_avg.safetensors")
        XCTAssertEqual(written.metadata["persona.source"], "written")
        XCTAssertEqual(written.metadata["persona.items"], stride(from: 0, to: 20, by: 2).map(String.init).joined(separator: ","))
        // The written source ran on the unsteered measurements the prompted one made; alone, it
        // gives the same points.
        let writtenResult = try XCTUnwrap(search.results.first { $0.source == "written" })
        let alone = try SteeringSearch.run(
            pack: pack.pack, source: "written", vectors: written.rows, model: lm, grid: p1.searchGrid(), norms: try p1.residualNorms(pack).meanNorms)
        XCTAssertEqual(alone.points, writtenResult.points)
        // The choice is the source with the larger coherent rise; the steer stage judged it.
        let best = search.results.compactMap { r in r.chosen.map { (r.source, $0.effect) } }.max { $0.1 < $1.1 }
        XCTAssertEqual(search.choice?.source, best?.0)
        if let choice = search.choice {
            let chosen = try XCTUnwrap(summary.chosen, "the steer stage judges the search's choice")
            XCTAssertEqual(chosen.layer, choice.layer)
            XCTAssertEqual(chosen.coefficient, choice.rawCoefficient)
            XCTAssertEqual(chosen.answerCount, 2)
            XCTAssertEqual(chosen.vectorKey, choice.vectorKey)
        } else {
            XCTAssertNotNil(search.reason)
            XCTAssertNil(summary.chosen)
        }

        // Resumed: every search result is reused.
        let p2 = try Pipeline(model: lm, runDirectory: run, judge: TextDerivedAutorater(), settings: s)
        let again = try XCTUnwrap(try p2.run([pack]).first)
        XCTAssertEqual(computed(p2, "search"), 0, "\(p2.reports)")
        XCTAssertEqual(again.search, search)

        // The report: the searches, the choice, the judged point, the prompting baseline.
        let report = try XCTUnwrap(try RunReport.build(runDirectory: run).traits.first)
        XCTAssertEqual(report.search, search.results)
        XCTAssertEqual(report.searchChoice, search.choice)
        XCTAssertEqual(report.promptingBaseline?.answerCount, 2)
        if let choice = search.choice {
            XCTAssertEqual(report.chosen?.coefficient, choice.rawCoefficient)
            XCTAssert(report.examples.contains { $0.label?.hasPrefix("search choice") == true }, "\(report.examples)")
        }
        let html = try String(
            contentsOf: try ReportWriter.write(try RunReport.build(runDirectory: run), to: dir.appendingPathComponent("report")),
            encoding: .utf8)
        XCTAssert(html.contains("Steering search"))
        XCTAssertEqual(html.components(separatedBy: "class=\"heatmap\"").count - 1, 2, "one heatmap per source")
        XCTAssertEqual(html.components(separatedBy: "anti-steerable at the chosen layer").count - 1, search.results.filter { $0.chosen != nil }.count)
        if search.choice != nil {
            XCTAssert(
                TraitSummary.table([summary], layer: 15, coefficients: s.coefficients).contains("measurement items"),
                "the summary line names the anti-steerable share")
        }

        // The same trait keeping no pairs (a trait threshold no pair can pass): the written vector's
        // search still chooses a point, and the steer stage judges it beside c = 0 (all reused here).
        let writtenSearch = try XCTUnwrap(search.results.first { $0.source == "written" })
        XCTAssertNotNil(writtenSearch.chosen, "with a coherence floor of 5 nats the written vector should have a point: \(writtenSearch.points)")
        var strict = s
        strict.traitThreshold = 100
        let p3 = try Pipeline(model: lm, runDirectory: run, judge: TextDerivedAutorater(), settings: strict)
        let none = try XCTUnwrap(try p3.run([pack]).first)
        XCTAssertEqual(none.pairsKept, 0)
        XCTAssertNotNil(none.failure)
        XCTAssertEqual(none.search?.choice?.source, "written", "\(String(describing: none.search))")
        let judgedChoice = try XCTUnwrap(none.chosen, "the written choice is judged without a prompted vector")
        XCTAssertEqual(judgedChoice.answerCount, 2)
        XCTAssertEqual(judgedChoice.layer, writtenSearch.chosen?.layer)
        XCTAssertNotNil(none.baselineMeanTrait)
        XCTAssert(TraitSummary.table([none], layer: 15, coefficients: s.coefficients).contains("search chose written"))
    }

    /// `--ablate refusal`: the run makes the refusal direction once, stores it and its file, and
    /// holds its ablation while it steers: the steered and baseline answers' activations have no
    /// component along it at any block, the steered one included (the ablation runs after the
    /// steering hook), their keys differ from an unablated run's, and the report says so.
    func testRefusalAblationHoldsWhileSteering() throws {
        let lm = try model()
        let dir = try TestPaths.temporaryDirectory()
        let pack = try PluginHost.loadPackFile(try TestPack.write(in: dir, behaviorItems: true).path)
        let run = dir.appendingPathComponent("run").path
        var s = Self.settings
        s.ablate = "refusal"
        let p = try Pipeline(model: lm, runDirectory: run, judge: TextDerivedAutorater(), settings: s)
        p.refusalRequestSetPath = TestPaths.root.appendingPathComponent(RequestContrastSet.defaultPath).path
        _ = try p.run([pack])
        let file = try TraitVectors.read(path: run + "/vectors/refusal_prompt_last.safetensors")
        let row = try XCTUnwrap(file.metadata[RefusalDirection.directionLayerKey].flatMap { Int($0) })
        let direction = file.rows[row].map(Double.init)
        let norm = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
        func relativeProjection(_ h: [Float]) -> Double {
            let hn = h.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            return abs(zip(h, direction).reduce(0.0) { $0 + Double($1.0) * $1.1 }) / (norm * max(hn, 1e-12))
        }
        let vector = try p.currentVector(pack)
        var checked = 0
        for c in s.coefficients {
            for item in try p.steeredItems(pack, vector: vector, layer: 15, coefficient: c) {
                XCTAssertTrue(item.ablated)
                let a = try XCTUnwrap(try p.store.activations(answerKey: item.record.key), "answer \(item.record.key) at c=\(c)")
                for (l, h) in a.responseMean.enumerated() {
                    XCTAssertLessThan(relativeProjection(h), 1e-4, "c=\(c) block \(l): the ablated stream keeps a refusal component")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 0)
        // The extraction answers are not ablated: some block carries a refusal component.
        let extraction = try p.store.allAnswers().filter { $0.kind == .extraction }
        let unablated = try extraction.prefix(4).compactMap { try p.store.activations(answerKey: $0.key) }
        XCTAssertGreaterThan(unablated.flatMap { $0.responseMean.map(relativeProjection) }.max() ?? 0, 1e-3)
        // An unablated run steers into other keys.
        var plain = Self.settings
        plain.ablate = nil
        let other = try Pipeline(model: lm, runDirectory: dir.appendingPathComponent("plain").path, judge: TextDerivedAutorater(), settings: plain)
        for c in s.coefficients {
            let a = try p.steeredItems(pack, vector: vector, layer: 15, coefficient: c).map(\.record.key)
            let b = try other.steeredItems(pack, vector: vector, layer: 15, coefficient: c).map(\.record.key)
            XCTAssertTrue(Set(a).isDisjoint(with: b), "c=\(c)")
        }
        let report = try RunReport.build(runDirectory: run)
        XCTAssertNotNil(report.settings["ablated while steering"], "\(report.settings)")
    }

    func testChoiceBetweenSourcesTakesTheLargerCoherentRise() {
        func result(_ source: String, _ effect: Double?) -> SearchResult {
            let chosen = effect.map { SearchPoint(layer: 3, coefficient: 0.2, rawCoefficient: 4, traitProbability: 0.5 + $0, effect: $0, coherenceCost: 0.1) }
            return SearchResult(
                trait: "t", source: source, coefficientUnit: "norm", maxKL: 0.5, baselineTraitProbability: 0.5, measurementItems: 4,
                points: chosen.map { [$0] } ?? [], chosen: chosen, reason: effect == nil ? "nothing coherent" : "ok")
        }
        let (choice, _) = Pipeline.chooseSource([(result("prompted", 0.05), "kp"), (result("written", 0.2), "kw")], skipped: [])
        XCTAssertEqual(choice?.source, "written")
        XCTAssertEqual(choice?.vectorKey, "kw")
        XCTAssert(choice?.reason.contains("prompted: layer 3") == true, choice?.reason ?? "")
        let (none, why) = Pipeline.chooseSource([(result("prompted", nil), "kp")], skipped: ["written: too few items"])
        XCTAssertNil(none)
        XCTAssert(why.contains("nothing coherent") && why.contains("too few items"), why)
    }

    // MARK: the CLI

    func testCLIStagesReuseAndExplainWhatIsMissing() throws {
        let dir = try TestPaths.temporaryDirectory()
        let packPath = try TestPack.write(in: dir).path
        let run = dir.appendingPathComponent("run").path
        func persona(_ arguments: [String]) throws -> CLITests.Run {
            let p = try launch("persona", arguments, captureOutput: true)
            let out = (p.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile()
            let err = (p.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return CLITests.Run(status: p.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
        }
        let first = try persona([
            "stage", "generate", "--run", run, "--model", "smollm2-135m", "--traits", packPath,
            "--questions", "1", "--max-tokens", "8"
        ])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssert(first.stderr.contains("generate grumpy: 10 computed, 0 reused"), first.stderr)
        // The second time, every parameter comes from the store and everything is reused.
        let second = try persona(["stage", "generate", "--run", run])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssert(second.stderr.contains("generate grumpy: 0 computed, 10 reused"), second.stderr)
        // A new run's sweep is in norm units by default, and the stored run keeps it.
        let stored = try XCTUnwrap(try RunStore.open(runDirectory: run, readOnly: true).info("run", as: RunInfo.self)).settings
        XCTAssertEqual(stored.coefficientUnit, .norm)
        XCTAssertEqual(stored.coefficients, [-0.2, -0.1, 0, 0.1, 0.2, 0.3])
        // A new run computes on the fast arithmetic (the default) and records it. The arithmetic is
        // part of every answer's key: --exact computes every answer again, and the run keeps it.
        XCTAssertEqual(stored.arithmetic, .fast)
        let exact = try persona(["stage", "generate", "--run", run, "--exact"])
        XCTAssertEqual(exact.status, 0, exact.stderr)
        XCTAssert(exact.stderr.contains("generate grumpy: 10 computed, 0 reused"), exact.stderr)
        XCTAssert(exact.stderr.contains("arithmetic exact"), exact.stderr)
        let keeps = try persona(["stage", "generate", "--run", run])
        XCTAssert(keeps.stderr.contains("arithmetic exact (the run's"), keeps.stderr)
        XCTAssert(keeps.stderr.contains("generate grumpy: 0 computed, 10 reused"), keeps.stderr)
        let storedExact = try XCTUnwrap(try RunStore.open(runDirectory: run, readOnly: true).info("run", as: RunInfo.self)).settings
        XCTAssertEqual(storedExact.arithmetic, .exact)
        let judge = try persona(["stage", "judge", "--run", run, "--judge", "no-such-judge"])
        XCTAssertNotEqual(judge.status, 0)
        XCTAssert(judge.stderr.contains("judge plugin 'no-such-judge' was not found"), judge.stderr)
        let filter = try persona(["stage", "filter", "--run", run, "--judge", "x"])
        XCTAssertNotEqual(filter.status, 0)
        XCTAssert(filter.stderr.contains("has been judged yet: run `persona stage judge"), filter.stderr)
        let negative = try persona(["stage", "filter", "--run", run, "--coeffs", "-2,-1,0"])
        XCTAssertFalse(negative.stderr.contains("Unknown option") || negative.stderr.contains("Missing value"), negative.stderr)
        let badCoeffs = try persona(["run", "--traits", packPath, "--coeffs", "1,x"])
        XCTAssertNotEqual(badCoeffs.status, 0)
        XCTAssert(badCoeffs.stderr.contains("--coeffs"), badCoeffs.stderr)
        let report = try persona(["report", run])
        XCTAssertEqual(report.status, 0, report.stderr)
        XCTAssert(FileManager.default.fileExists(atPath: run + "/report/report.html"))
        XCTAssert(FileManager.default.fileExists(atPath: run + "/report/report.json"))
    }

    // MARK: kill -9 and resume

    var binDirectory: URL { CLITests.binary.deletingLastPathComponent() }

    func launch(_ executable: String, _ arguments: [String], captureOutput: Bool = false) throws -> Process {
        let url = binDirectory.appendingPathComponent(executable)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw TestEnvironment.skipOrFail("\(url.path) not built: run `swift build -c release` first (make test does)")
        }
        let p = Process()
        p.executableURL = url
        p.arguments = arguments
        p.currentDirectoryURL = TestPaths.root
        if captureOutput {
            p.standardOutput = Pipe()
            p.standardError = Pipe()
        } else {
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
        }
        try p.run()
        return p
    }

    /// Waits until `table` of the store has at least `atLeast` rows, then kills the process with
    /// SIGKILL; returns the count seen at the kill (fails when the process ended first).
    func kill(_ p: Process, store: String, table: String, atLeast: Int) -> Int {
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline {
            let n = RunStore.peekCount(path: store, table: table) ?? 0
            if n >= atLeast {
                Foundation.kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                XCTAssertEqual(p.terminationReason, .uncaughtSignal)
                return n
            }
            if !p.isRunning { XCTFail("the process ended (status \(p.terminationStatus)) before \(table) reached \(atLeast) rows"); return n }
            Thread.sleep(forTimeInterval: 0.005)
        }
        Foundation.kill(p.processIdentifier, SIGKILL)
        XCTFail("timed out waiting for \(table)")
        return 0
    }

    func settingsJSON(_ s: PipelineSettings) throws -> String { String(decoding: try JSONEncoder().encode(s), as: UTF8.self) }

    func testKillNineMidGenerateAndMidJudgeThenResumeEqualsUninterruptedRun() throws {
        let modelPath = try TestPaths.model("smollm2-135m")
        let dir = try TestPaths.temporaryDirectory()
        let packPath = try TestPack.write(in: dir).path
        let reference = dir.appendingPathComponent("uninterrupted").path
        let resumed = dir.appendingPathComponent("resumed").path
        let json = try settingsJSON(Self.settings)

        // The uninterrupted run (batches of 4).
        let a = try launch("pipeline-testhost", ["run", reference, modelPath, packPath, json])
        a.waitUntilExit()
        XCTAssertEqual(a.terminationStatus, 0)

        // `persona stage generate`, one sequence per batch (batch size is not part of any key), killed mid-way.
        let s = Self.settings
        let generate = try launch(
            "persona",
            [
                "stage", "generate", "--run", resumed, "--model", modelPath, "--traits", packPath,
                "--questions", "2", "--eval-questions", "2", "--samples", "1", "--max-tokens", "24",
                "--seed", "7", "--batch-size", "1", "--trait-threshold", "30", "--coherence-threshold", "40",
                "--coeffs", "0,2", "--coeff-unit", "raw", "--steer-max-tokens", "16", "--layer", "15"
            ])
        let store = RunStore.databasePath(runDirectory: resumed)
        let atKill = kill(generate, store: store, table: "answers", atLeast: 3)
        let afterGenerateKill = RunStore.peekCount(path: store, table: "answers") ?? 0
        XCTAssert(afterGenerateKill >= atKill && afterGenerateKill < 20, "killed mid-generate: \(afterGenerateKill) of 20 answers stored")

        // Resume generation and judge slowly; killed mid-judge.
        var slow = s
        slow.batchSize = 1
        let judge = try launch("pipeline-testhost", ["judge", resumed, modelPath, packPath, try settingsJSON(slow), "0.04"])
        _ = kill(judge, store: store, table: "scores", atLeast: 4)
        let scoresAtKill = RunStore.peekCount(path: store, table: "scores") ?? 0
        XCTAssertEqual(RunStore.peekCount(path: store, table: "answers"), 20, "generation finished before judging began")
        XCTAssert(scoresAtKill >= 4 && scoresAtKill < 40, "killed mid-judge: \(scoresAtKill) of 40 scores stored")

        // The same command again runs to the end.
        let finish = try launch("pipeline-testhost", ["run", resumed, modelPath, packPath, json])
        finish.waitUntilExit()
        XCTAssertEqual(finish.terminationStatus, 0)

        // Equal stores: answers (text, tokens, seeds), activations, scores, pair decisions, vectors, steering results.
        let x = try RunStore.open(runDirectory: reference), y = try RunStore.open(runDirectory: resumed)
        let answersX = try x.allAnswers(), answersY = try y.allAnswers()
        XCTAssertEqual(answersX.count, 20 + 2 + 2 + 4, "extraction + steered (coefficient 2) + baseline + prompted")
        XCTAssertEqual(answersX, answersY)
        XCTAssertEqual(try x.activationDigests(), try y.activationDigests())
        XCTAssertEqual(try x.allScores(), try y.allScores())
        XCTAssertEqual(try x.allVectors(), try y.allVectors())
        XCTAssertFalse(try x.allVectors().isEmpty)
        let rx = try RunReport.build(store: x), ry = try RunReport.build(store: y)
        XCTAssertEqual(rx.traits, ry.traits)
        XCTAssertEqual(rx.geometry, ry.geometry)
    }
}

/// Records warnings and logs (tests).
final class RecordingProgress: PipelineProgress {
    var warnings: [String] = []
    var logs: [String] = []
    func begin(stage: String, trait: String, total: Int, tokenBudget: Int) {}
    func advance(done: Int, tokens: Int) {}
    func end() {}
    func log(_ message: String) { logs.append(message) }
    func warn(_ message: String) { warnings.append(message) }
}

/// A pack filter that drops pairs whose positive answer mentions "drop".
final class NoDropFilter: PairFilter {
    let name = "no-drop"
    func dropReason(for pair: CandidatePair) throws -> String? { pair.positiveAnswer.contains("drop") ? "mentions drop" : nil }
}

extension PipelineRunTests {
    /// The filter and extract stages on given answers, scores and activations (no generation): each
    /// rule drops what it should with its reason, the pack's filter runs after the thresholds, and
    /// the vector is the hand-computed mean difference of the kept pairs.
    func testFilterAndExtractOnGivenScores() throws {
        let lm = try model()
        let dir = try TestPaths.temporaryDirectory()
        let base = try PluginHost.loadPackFile(try TestPack.write(in: dir).path)
        let pack = LoadedPack(pack: base.pack, source: base.source, filters: [NoDropFilter()])
        var settings = Self.settings
        settings.questions = 2
        let progress = RecordingProgress()
        let judge = TextDerivedAutorater()
        let p = try Pipeline(model: lm, runDirectory: dir.appendingPathComponent("run").path, judge: judge, settings: settings, progress: progress)
        try p.recordRun(packs: [pack])
        let layers = lm.config.layerCount, hidden = lm.config.hiddenSize
        // (positive trait, negative trait, positive coherence, negative coherence, positive answer) per (question, instruction).
        typealias Given = (Double?, Double?, Double?, Double?, String)
        let given: [[Given]] = [
            [
                (80, 10, 90, 90, "kept"), (20, 10, 90, 90, "low"), (80, 60, 90, 90, "neg high"), (80, 10, nil, 90, "no coherence"),
                (50, 49, 50, 50, "kept at the edges")
            ],
            [(99, 0, 99, 99, "kept"), (90, 5, 90, 90, "please drop me"), (90, 5, 90, 30, "incoherent neg"), (10, 90, 90, 90, "reversed"), (90, 5, 90, 90, "")]
        ]
        // Activations: the positive answer of (q, i) has response mean q*10+i+1 everywhere, prompt mean 2×, the negative has 0.5.
        func summary(_ rows: [[Float]]) -> ActivationSummary {
            ActivationSummary(
                responseMean: rows, promptMean: rows.map { $0.map { $0 * 2 } }, promptLast: rows.map { $0.map { -$0 } },
                responseTokenCount: 3, promptTokenCount: 5)
        }
        func constant(_ value: Float) -> [[Float]] { Array(repeating: Array(repeating: value, count: hidden), count: layers) }
        func seed(_ pack: LoadedPack, positiveRows: (AnswerRecord) -> [[Float]]) throws {
            var answers: [(AnswerRecord, ActivationSummary?)] = []
            var scores: [ScoreRecord] = []
            for item in try p.extractionItems(pack) {
                var r = item.record
                let g = given[r.questionIndex][try XCTUnwrap(r.instructionIndex)]
                let pos = r.polarity == .pos
                r.answer = pos ? g.4 : "negative"
                r.responseTokenCount = r.answer.isEmpty ? 0 : 3
                r.promptText = "p"; r.stopReason = "end_token"
                answers.append((r, summary(pos ? positiveRows(r) : constant(0.5))))
                for (kind, value) in [(ScoreKind.trait, pos ? g.0 : g.1), (.coherence, pos ? g.2 : g.3)] {
                    scores.append(
                        ScoreRecord(
                            key: p.scoreKey(answerKey: r.key, kind: kind, evalPrompt: pack.pack.evalPrompt, judge: judge), answerKey: r.key,
                            kind: kind, score: value, noScoreReason: value == nil ? "refusal" : nil, numberMass: value == nil ? 0.1 : 0.9,
                            judge: judge.cacheIdentity))
                }
            }
            try p.store.insert(answers: answers)
            try p.store.insert(scores: scores)
        }
        try seed(pack) { constant(Float($0.questionIndex * 10 + ($0.instructionIndex ?? 0) + 1)) }
        let outcome = try p.filter(pack)
        let reasons = Dictionary(uniqueKeysWithValues: outcome.decisions.map { ("\($0.questionIndex)/\($0.instructionIndex)", $0.reason ?? "kept") })
        XCTAssertEqual(
            reasons,
            [
                "0/0": "kept", "0/1": "positive trait < 30", "0/2": "kept", "0/3": "positive coherence: no score (refusal)",
                "0/4": "kept", "1/0": "kept", "1/1": "filter no-drop: mentions drop", "1/2": "negative coherence < 40", "1/3": "positive trait < 30",
                "1/4": "empty positive answer"
            ])
        // With T = 30 the negative side may reach 69.9: "neg high" (60) is kept.
        XCTAssertEqual(outcome.kept, 4)
        XCTAssert(progress.warnings.contains { $0.contains("only 4 of 10 pairs survived") }, "\(progress.warnings)")
        XCTAssertEqual(judge.calls, 0, "filtering never calls the judge")

        // Kept: (0,0), (0,2), (0,4), (1,0): positive response means 1, 3, 5, 11 → mean 5; negatives 0.5 → v = 4.5.
        let vectors = try p.extract(pack)
        let v = try XCTUnwrap(vectors[.responseAvg])
        XCTAssertEqual(v.pairCount, 4)
        XCTAssertEqual(v.rows.count, layers)
        XCTAssert(v.rows.allSatisfy { $0.allSatisfy { $0 == 4.5 } })
        XCTAssert(try XCTUnwrap(vectors[.promptAvg]).rows.allSatisfy { $0.allSatisfy { $0 == 9 } }, "2 × 5 − 2 × 0.5")
        XCTAssert(try XCTUnwrap(vectors[.promptLast]).rows.allSatisfy { $0.allSatisfy { $0 == -4.5 } })
        // Stored and reused: a second extract computes nothing.
        _ = try p.extract(pack)
        XCTAssertEqual(p.reports.last { $0.stage == "extract" }?.computed, 0)

        // Geometry: a second trait whose vector is +v on even and −v on odd coordinates is orthogonal
        // to the first (all equal coordinates); at layer 0 it equals the first.
        var otherData = pack.pack
        otherData.name = "other"
        let other = LoadedPack(pack: otherData, source: "memory")
        try seed(other) { _ in
            (0..<layers).map { l in (0..<hidden).map { j in l == 0 || j % 2 == 0 ? 1.5 : -0.5 } }  // minus 0.5 → ±1 or 1
        }
        _ = try p.extract(other)
        let g = try p.geometry([pack, other])
        XCTAssertEqual(g.traits, ["grumpy", "other"])
        XCTAssertEqual(g.layer, 15)
        XCTAssertEqual(g.cosine[0][0], 1, accuracy: 1e-9)
        XCTAssertEqual(g.cosine[0][1], 0, accuracy: 1e-9)
        XCTAssertEqual(g.perLayer[0][0][1], 1, accuracy: 1e-9)
        XCTAssertEqual(g.perLayer.count, layers)
    }
}
