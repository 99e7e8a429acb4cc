// The projection-probe hook plugin during `persona generate` (the built CLI as a subprocess): one
// JSONL line per token per layer, with the projection on the vector.
import Foundation
import XCTest
import PersonaTestSupport
@testable import PersonaCore

final class ProjectionProbeTests: XCTestCase {
    func testProjectionProbeWritesJSONLDuringGenerate() throws {
        let binary = BuiltLibraries.folder.appendingPathComponent("persona")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { throw TestEnvironment.skipOrFail("persona not built at \(binary.path)") }
        _ = try BuiltLibraries.path("PersonaProjectionProbe")
        let dir = try TestPaths.temporaryDirectory()
        // A [30, 576] vector file for the 135M model: row L = e_L + 0.5 e_{L+1}.
        let rows: [[Float]] = (0..<30).map { l in (0..<576).map { $0 == l ? 1 : ($0 == l + 1 ? 0.5 : 0) } }
        let vector = dir.appendingPathComponent("probe.safetensors")
        try TraitVectors(rows: rows, metadata: ["persona.trait": "test"]).write(to: vector)
        let output = dir.appendingPathComponent("probe.jsonl")
        let config = #"{"vector": "\#(vector.path)", "layers": [3, 12], "output": "\#(output.path)"}"#
        let p = Process()
        p.executableURL = binary
        p.arguments = [
            "generate", try TestPaths.model("smollm2-135m"), "Name a color.", "--max-tokens", "5",
            "--hook", "projection-probe", "--hook-config", config, "--json"
        ]
        p.currentDirectoryURL = TestPaths.root
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, String(decoding: stderr, as: UTF8.self))
        let generated = try XCTUnwrap(JSONSerialization.jsonObject(with: stdout) as? [String: Any])
        let promptCount = try XCTUnwrap(generated["promptIds"] as? [Int]).count
        let generatedCount = try XCTUnwrap(generated["generatedIds"] as? [Int]).count
        let lines = try String(contentsOf: output, encoding: .utf8).split(separator: "\n")
            .map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        // Prefill: every prompt token; then one decode step per generated token except the last.
        let tokensSeen = promptCount + generatedCount - 1
        XCTAssertEqual(lines.count, 2 * tokensSeen)
        XCTAssertEqual(Set(lines.compactMap { $0["layer"] as? Int }), [3, 12])
        XCTAssertEqual(lines.filter { ($0["pass"] as? String) == "prefill" }.count, 2 * promptCount)
        XCTAssertEqual(Set(lines.compactMap { $0["position"] as? Int }), Set(0..<tokensSeen))
        XCTAssertTrue(lines.allSatisfy { ($0["projection"] as? Double)?.isFinite ?? false && ($0["sequence"] as? Int) != nil })
        // Bad configuration: a clear error, exit status non-zero.
        let bad = Process()
        bad.executableURL = binary
        bad.arguments = [
            "generate", try TestPaths.model("smollm2-135m"), "Hi", "--max-tokens", "1", "--hook", "projection-probe", "--hook-config",
            #"{"output": "/tmp/x.jsonl"}"#
        ]
        let badErr = Pipe()
        bad.standardError = badErr; bad.standardOutput = Pipe()
        try bad.run()
        let message = String(decoding: badErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        bad.waitUntilExit()
        XCTAssertNotEqual(bad.terminationStatus, 0)
        XCTAssertTrue(message.contains("configuration needs \"vector\""), message)
    }
}
