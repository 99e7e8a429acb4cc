// The whole method through the `persona` binary with the real judge: `persona run` on the 135M
// model for two shipped trait packs (dlopen'd from the build folder), judged by the `local-judge`
// plugin with Qwen2.5-0.5B as the judge model (the 135M model rarely puts a quarter of its
// probability on numbers, so it would leave most answers unscored). Every stage runs; then
// `persona report` writes the page, `persona vectors export` writes a llama.cpp control vector and
// a safetensors copy, and both read back through our own readers with the right names, shapes
// and values. A second identical `persona run` recomputes nothing.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaModel
@testable import PersonaCore

final class PipelineEndToEndTests: XCTestCase {
    func persona(_ arguments: [String]) throws -> CLITests.Run { try CLITests.runPersona(arguments) }

    func testPersonaRunWithLocalJudgeThenReportAndExports() throws {
        _ = try TestPaths.model("smollm2-135m")
        _ = try TestPaths.model("qwen2.5-0.5b")
        let dir = try TestPaths.temporaryDirectory()
        let run = dir.appendingPathComponent("run").path
        // Thresholds 0: with answers this short the vector is a plumbing check, not a finding;
        // a pair is still dropped when the judge gives any of its four scores none.
        let arguments = [
            "run", "--traits", "optimistic,evil", "--model", "smollm2-135m", "--out", run,
            "--judge", "local-judge", "--judge-config", #"{"model": "qwen2.5-0.5b"}"#,
            "--questions", "1", "--eval-questions", "1", "--max-tokens", "12", "--steer-max-tokens", "10",
            "--coeffs", "0,6", "--coeff-unit", "raw", "--layer", "15", "--trait-threshold", "0", "--coherence-threshold", "0", "--seed", "5"
        ]
        let started = Date()
        let first = try persona(arguments)
        print("persona run (2 traits, local-judge with qwen2.5-0.5b): \(Date().timeIntervalSince(started)) s\n\(first.stdout)")
        XCTAssertEqual(first.status, 0, first.stderr)
        for stage in ["generate", "judge", "filter", "extract", "steer", "steer-judge", "monitor"] {
            for trait in ["optimistic", "evil"] {
                XCTAssert(first.stderr.contains("\(stage) \(trait): "), "no \(stage) report for \(trait):\n\(first.stderr)")
            }
        }
        XCTAssert(first.stderr.contains("generate optimistic: 10 computed, 0 reused"), first.stderr)
        XCTAssert(first.stdout.contains("optimistic") && first.stdout.contains("evil"), first.stdout)

        // What the store holds: real judgments by the plugin, pair decisions, both vectors.
        let store = try RunStore.open(runDirectory: run)
        let info = try XCTUnwrap(try store.info("run", as: RunInfo.self))
        XCTAssert(info.judge.hasPrefix("local-judge"), info.judge)
        XCTAssert(info.judge.contains("qwen2.5-0.5b"), "the judge model is part of the judge's identity: \(info.judge)")
        XCTAssert(info.judge.contains("\"arithmetic\":\"fast\""), "the judge's arithmetic is part of its identity: \(info.judge)")
        XCTAssertEqual(info.settings.arithmetic, .fast)
        let model = try LanguageModel(source: ModelLocator.open(try TestPaths.model("smollm2-135m")))
        for trait in ["optimistic", "evil"] {
            let path = dir.appendingPathComponent("run/vectors/\(trait)_response_avg.safetensors").path
            let vectors = try TraitVectors.read(path: path)
            XCTAssertEqual(vectors.rows.count, 30, trait)
            XCTAssertEqual(vectors.rows.first?.count, 576, trait)
            XCTAssertEqual(vectors.metadata["persona.trait"], trait)
            XCTAssertEqual(vectors.metadata["persona.model"], model.fingerprint)
            XCTAssertEqual(vectors.metadata["persona.arithmetic"], "fast", "the default arithmetic, named in the file")
            XCTAssertGreaterThan(norm(vectors.rows[15]), 0, "\(trait): the vector at layer 15 is zero")
        }

        // The report, from the store alone.
        let report = try persona(["report", run])
        XCTAssertEqual(report.status, 0, report.stderr)
        let html = try String(contentsOfFile: run + "/report/report.html", encoding: .utf8)
        XCTAssert(html.contains("<svg"), "the report has no inline charts")
        // Self-contained: nothing fetched (the SVG namespace URI is a name, not a fetch).
        for fetch in ["src=\"http", "href=\"http", "url(http", "@import", "<link", "<script src"] {
            XCTAssertFalse(html.contains(fetch), "the report loads something from the network: \(fetch)")
        }
        for table in try FileManager.default.contentsOfDirectory(atPath: run + "/report/tables") {
            XCTAssert(table.hasSuffix(".csv"), table)
        }
        let data = try JSONDecoder().decode(ReportData.self, from: Data(contentsOf: URL(fileURLWithPath: run + "/report/report.json")))
        XCTAssertEqual(data.traits.map(\.trait).sorted(), ["evil", "optimistic"])
        XCTAssert(data.traits.allSatisfy { $0.steering.map(\.coefficient) == [0, 6] }, "\(data.traits.map(\.steering))")
        XCTAssertEqual(data.geometry?.traits.count, 2)
        XCTAssertEqual(data.settings["arithmetic"], "fast")

        // Exports: llama.cpp control vector (direction.L for blocks 1…29) and safetensors.
        let vectorFile = run + "/vectors/evil_response_avg.safetensors"
        let original = try TraitVectors.read(path: vectorFile)
        let gguf = dir.appendingPathComponent("evil.gguf").path
        let exported = try persona(["vectors", "export", vectorFile, "--format", "llama-cpp", "--out", gguf, "--model-hint", "llama"])
        XCTAssertEqual(exported.status, 0, exported.stderr)
        let control = try GGUFFile(path: gguf)
        XCTAssertEqual(control.string("general.architecture"), "controlvector")
        XCTAssertEqual(control.string("controlvector.model_hint"), "llama")
        XCTAssertEqual(control.tensors.map(\.name), (1..<30).map { "direction.\($0)" })
        for t in control.tensors {
            XCTAssertEqual(t.type, .f32)
            XCTAssertEqual(t.dimensions, [576])
            let l = try XCTUnwrap(Int(t.name.dropFirst("direction.".count)))
            let raw = control.data(of: t)
            let values = (0..<576).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
            XCTAssertEqual(values, original.rows[l], t.name)
        }
        let copy = dir.appendingPathComponent("evil-copy.safetensors").path
        let st = try persona(["vectors", "export", vectorFile, "--format", "safetensors", "--out", copy])
        XCTAssertEqual(st.status, 0, st.stderr)
        let back = try TraitVectors.read(path: copy)
        XCTAssertEqual(back.rows, original.rows)
        XCTAssertEqual(back.metadata["persona.trait"], "evil")

        // The same command again: everything comes from the store.
        let again = try persona(arguments)
        XCTAssertEqual(again.status, 0, again.stderr)
        let computedLines = again.stderr.split(separator: "\n").filter { $0.contains(" computed, ") && !$0.contains(": 0 computed, ") }
        XCTAssert(computedLines.isEmpty, "the second identical run recomputed: \(computedLines)")
    }
}
