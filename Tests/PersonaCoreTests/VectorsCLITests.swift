// `persona vectors import|export|show` and `persona report --data` end to end through the binary.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaModel
@testable import PersonaCore

final class VectorsCLITests: XCTestCase {
    struct Run { let status: Int32; let stdout: String; let stderr: String }

    func run(_ arguments: [String]) throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: CLITests.binary.path) else {
            throw TestEnvironment.skipOrFail("persona binary not built at \(CLITests.binary.path): run `swift build` first")
        }
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func testImportExportShow() throws {
        let dir = try TestPaths.temporaryDirectory()
        let st = dir.appendingPathComponent("evil.safetensors").path, gguf = dir.appendingPathComponent("evil.gguf").path
        let imported = try run(["vectors", "import", VectorInteropTests.fixture.path, "--out", st, "--trait", "evil"])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        XCTAssert(imported.stdout.contains("[4, 8]"), imported.stdout)

        let exported = try run(["vectors", "export", st, "--format", "llama-cpp", "--out", gguf, "--model-hint", "qwen2"])
        XCTAssertEqual(exported.status, 0, exported.stderr)
        XCTAssert(exported.stderr.contains("warning: row 0"), "row 0 (the reference's block-0 output) is non-zero: \(exported.stderr)")
        let file = try GGUFFile(path: gguf)
        XCTAssertEqual(file.tensors.map(\.name), ["direction.1", "direction.2", "direction.3"])
        XCTAssertEqual(file.string("controlvector.model_hint"), "qwen2")

        let shown = try run(["vectors", "show", gguf, "--json"])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        let summary = try JSONDecoder().decode(VectorSummary.self, from: Data(shown.stdout.utf8))
        XCTAssertEqual(summary.shape, [4, 8])
        XCTAssertEqual(summary.norms[0], 0)
        XCTAssertEqual(summary.metadata["persona.trait"], "evil")

        let text = try run(["vectors", "show", st])
        XCTAssert(text.stdout.contains("persona.method = other"), text.stdout)
        XCTAssert(text.stdout.contains("shape    [4, 8]"), text.stdout)

        let bad = try run(["vectors", "show", dir.appendingPathComponent("nothing.pt").path])
        XCTAssertNotEqual(bad.status, 0)
        let odd = try run(["vectors", "show", dir.appendingPathComponent("x.txt").path])
        XCTAssert(odd.stderr.contains("unknown vector file type"), odd.stderr)
    }

    func testReportFromJSON() throws {
        let dir = try TestPaths.temporaryDirectory()
        let json = dir.appendingPathComponent("in.json")
        try ReportData.jsonEncoder().encode(ReportWriterTests.sample()).write(to: json)
        let out = dir.appendingPathComponent("report")
        let r = try run(["report", "--data", json.path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), out.appendingPathComponent("report.html").path)
        XCTAssert(FileManager.default.fileExists(atPath: out.appendingPathComponent("tables/steering.csv").path))
        try Data("{\"runName\": 3}".utf8).write(to: json)
        let bad = try run(["report", "--data", json.path, "--out", out.path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.stderr.contains("not a report data file"), bad.stderr)
    }
}
