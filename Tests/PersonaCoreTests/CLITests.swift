// The `persona` binary end to end: inspect, tokenize, generate (plain, JSON, steered), errors.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaModel
import PipelineTestSupport
@testable import PersonaCore

final class CLITests: XCTestCase {
    /// The persona executable next to the test bundle (built by `swift build` / `swift test`).
    static var binary: URL {
        var dir = Bundle.main.bundleURL
        if dir.pathExtension == "xctest" { dir.deleteLastPathComponent() }
        let candidates = [dir.appendingPathComponent("persona"), Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("persona")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    struct Run { let status: Int32; let stdout: String; let stderr: String }

    func run(_ arguments: [String]) throws -> Run { try Self.runPersona(arguments) }

    /// Runs the persona binary from the project root; both pipes are read while it runs (a long
    /// command's full stderr pipe would otherwise block it).
    static func runPersona(_ arguments: [String]) throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw TestEnvironment.skipOrFail("persona binary not built at \(binary.path): run `swift build` first (make test does)")
        }
        let p = Process()
        p.executableURL = binary
        p.arguments = arguments
        p.currentDirectoryURL = TestPaths.root
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        final class Collected: @unchecked Sendable { var data = Data() }
        let collected = Collected()
        let reader = Thread { collected.data = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !reader.isFinished { Thread.sleep(forTimeInterval: 0.01) }
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: collected.data, as: UTF8.self))
    }

    /// persona's entry point never leaves a processor with AVX2 on OpenBLAS's generic Prescott
    /// kernels (what Debian's OpenBLAS picks on a CPU newer than itself), and `--env` hands the same
    /// choice to other programs. Skipped when OPENBLAS_CORETYPE was set outside persona.
    func testOpenBLASIsNotLeftOnItsGenericKernels() throws {
        let env = ProcessInfo.processInfo.environment
        try XCTSkipIf(env["PERSONA_KEEP_OPENBLAS_CORE"] != nil, "PERSONA_KEEP_OPENBLAS_CORE is set")
        if let chosen = env["OPENBLAS_CORETYPE"] {
            try XCTSkipIf(env["PERSONA_OPENBLAS_CORE_SET"] != chosen, "OPENBLAS_CORETYPE=\(chosen) was set outside persona")
        }
        let r = try run(["inspect", "--machine", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let core = try XCTUnwrap(json["openblasCore"] as? String)
        XCTAssertFalse(core.isEmpty)
        let levels = try XCTUnwrap(json["kernelLevels"] as? [String])
        if levels.contains("avx2") { XCTAssertNotEqual(core.lowercased(), "prescott", "AVX2 CPU on OpenBLAS's generic kernels") }
        let assignments = try run(["inspect", "--machine", "--env"])
        XCTAssertEqual(assignments.status, 0, assignments.stderr)
        if json["openblasCoreChosenByPersona"] as? Bool == true {
            XCTAssertEqual(assignments.stdout, "OPENBLAS_CORETYPE=\(core.uppercased()) PERSONA_OPENBLAS_CORE_SET=\(core.uppercased())\n")
        } else {
            XCTAssertEqual(assignments.stdout, "")
        }
        XCTAssertNotEqual(try run(["inspect", "--machine", "qwen2.5-0.5b"]).status, 0)
        XCTAssertNotEqual(try run(["inspect"]).status, 0)
    }

    func testInspectJSONFiguresForDefaultModels() throws {
        let expected: [String: (Int, Int, Int, Int, Int, Int, Int)] = [
            "smollm2-135m": (30, 576, 9, 3, 64, 1536, 49152),
            "qwen2.5-0.5b": (24, 896, 14, 2, 64, 4864, 151936)
        ]
        for (name, figures) in expected {
            let r = try run(["inspect", name, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let c = try XCTUnwrap(json["config"] as? [String: Any])
            XCTAssertEqual(
                [c["layerCount"], c["hiddenSize"], c["headCount"], c["kvHeadCount"], c["headDimension"], c["feedForwardSize"], c["vocabularySize"]].compactMap {
                    $0 as? Int
                },
                [figures.0, figures.1, figures.2, figures.3, figures.4, figures.5, figures.6], name)
            XCTAssertEqual(json["hasChatTemplate"] as? Bool, true)
            // The same fingerprint the engine keys its caches with.
            let fingerprint = ModelFingerprint.of(try ModelLocator.open(name))
            XCTAssertEqual(json["fingerprint"] as? String, fingerprint, name)
        }
        let qwen = try run(["inspect", "qwen2.5-0.5b"])
        for type in ["Q4_K", "Q5_0", "Q6_K", "Q8_0", "F32"] { XCTAssert(qwen.stdout.contains(type), type) }
        let tensors = try run(["inspect", "smollm2-135m", "--tensors"])
        XCTAssert(tensors.stdout.contains("blk.29.ffn_down.weight"))
    }

    func testTokenizeMatchesReference() throws {
        let reference = try Reference.load("smollm2-135m").json.dict("chat_template").list("cases").compactMap { $0 as? [String: Any] }[0]
        let user = try XCTUnwrap((reference.list("messages").first as? [String: Any])?.string("content"))
        let r = try run(["tokenize", "smollm2-135m", user, "--chat", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json.ints("ids"), reference.ints("ids"))
        XCTAssertEqual(json.string("text"), reference.string("text"))
    }

    func testGenerateJSONAndSteering() throws {
        // The reference's greedy and steered tokens: the exact arithmetic (README, "Exactness").
        let greedy = try Reference.load("smollm2-135m").json.dict("greedy").dict("hf_generate")
        let r = try run(["generate", "smollm2-135m", "What is the capital of France?", "--max-tokens", "20", "--json", "--exact"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json.ints("generatedIds"), greedy.ints("ids"))
        XCTAssertEqual(json.string("stopReason"), "end_token")
        XCTAssertEqual(json.string("text"), "The capital of France is Paris.")

        // Steering with the reference's vector at layer 15 changes the answer; coefficient 0 does not.
        let steering = try Reference.load("smollm2-135m").json.dict("steering")
        let dir = try TestPaths.temporaryDirectory()
        let file = dir.appendingPathComponent("evil.safetensors")
        try TraitVectors(rows: [steering.dict("vector").floats("v")], isSingle: true, metadata: ["persona.trait": "evil"]).write(to: file)
        func answer(_ coeff: String) throws -> [Int] {
            let r = try run([
                "generate", "smollm2-135m", "Tell me about your plans for the weekend.", "--max-tokens", "30", "--json", "--exact",
                "--steer", file.path, "--layer", "15", "--coeff", coeff, "--positions", "all"
            ])
            XCTAssertEqual(r.status, 0, r.stderr)
            return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?.ints("generatedIds") ?? []
        }
        let run4 = steering.list("runs").compactMap { $0 as? [String: Any] }.first { ($0["coeff"] as? Double) == 4 && $0.string("positions") == "all" }
        XCTAssertEqual(try answer("4"), try XCTUnwrap(run4).ints("greedy_ids"), "steered CLI generation reproduces the reference run")
        let zero = try answer("0")
        let plain = try run(["generate", "smollm2-135m", "Tell me about your plans for the weekend.", "--max-tokens", "30", "--json", "--exact"])
        XCTAssertEqual(zero, (try JSONSerialization.jsonObject(with: Data(plain.stdout.utf8)) as? [String: Any])?.ints("generatedIds"))
    }

    /// `persona search` on a pack folder: the heatmap and choice on stdout, the result and the
    /// written vector in `--out` (positions recorded, the vector file's metadata as the pipeline writes it).
    func testSearchCommandWritesItsResult() throws {
        let dir = try TestPaths.temporaryDirectory()
        let pack = try TestPack.write(in: dir, behaviorItems: true)
        let out = dir.appendingPathComponent("out")
        let r = try run(["search", "smollm2-135m", "--traits", pack.path, "--layers", "10,8+10", "--coeffs", "-0.1,0,0.2", "--max-kl", "5", "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stdout.contains("grumpy: chosen layer ") || r.stdout.contains("grumpy: no point chosen"), r.stdout)
        // The layer set 8+10 is a row of the heatmap, steered at both layers.
        XCTAssert(r.stdout.split(separator: "\n").contains { $0.hasPrefix("8+10 ") }, r.stdout)
        let data = try Data(contentsOf: out.appendingPathComponent("search-grumpy.json"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(json["positions"] as? String, "response", "the default positions of every steering command")
        let points = try XCTUnwrap(json["points"] as? [[String: Any]])
        XCTAssertEqual(points.count, 6)
        XCTAssertEqual(points.compactMap { $0["layers"] as? [Int] }, [[8, 10], [8, 10], [8, 10]])
        // Steering two layers moves the measure differently from steering one.
        let single = points.filter { $0["layers"] == nil && ($0["coefficient"] as? Double) == 0.2 }.first?["traitProbability"] as? Double
        let both = points.filter { $0["layers"] != nil && ($0["coefficient"] as? Double) == 0.2 }.first?["traitProbability"] as? Double
        XCTAssertNotEqual(try XCTUnwrap(single), try XCTUnwrap(both))
        XCTAssertEqual(json["antiSteerableFraction"] == nil, json["chosen"] == nil, "\(json)")
        let written = try TraitVectors.read(path: out.appendingPathComponent("grumpy_written.safetensors").path)
        XCTAssertEqual(written.metadata["persona.method"], "written_response_avg")
        XCTAssertEqual(written.metadata["persona.source"], "written")
        XCTAssertEqual(written.metadata["persona.layers"], "block-output")
        XCTAssertEqual(written.metadata["persona.items"], stride(from: 0, to: 20, by: 2).map(String.init).joined(separator: ","))
    }

    func testErrorsAreClear() throws {
        let missing = try run(["inspect", "no-such-model"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssert(missing.stderr.contains("make models"), missing.stderr)
        let dir = try TestPaths.temporaryDirectory()
        let bad = dir.appendingPathComponent("bad.gguf")
        try Data("GGUF\u{3}\0\0\0".utf8).write(to: bad)
        let truncated = try run(["inspect", bad.path])
        XCTAssertNotEqual(truncated.status, 0)
        XCTAssert(truncated.stderr.contains("truncated"), truncated.stderr)
        let unpaired = try run(["generate", "smollm2-135m", "hi", "--steer", "x.safetensors"])
        XCTAssertNotEqual(unpaired.status, 0)
        XCTAssert(unpaired.stderr.contains("--layer"), unpaired.stderr)
        // A missing refusal direction is a failure to name, not a wrong option: no usage lines after it.
        let model = dir.appendingPathComponent("never-refused.gguf")
        try FileManager.default.createSymbolicLink(at: model, withDestinationURL: TestPaths.root.appendingPathComponent("models/smollm2-135m.gguf"))
        let noDirection = try run(["generate", model.path, "hi", "--max-tokens", "2", "--ablate", "refusal"])
        XCTAssertNotEqual(noDirection.status, 0)
        XCTAssert(noDirection.stderr.contains("runs/refusal/never-refused.safetensors does not exist; run `persona vectors refusal"), noDirection.stderr)
        XCTAssertFalse(noDirection.stderr.contains("Usage:"), noDirection.stderr)
        let badSet = try run(["search", "smollm2-135m", "--traits", "evil", "--layers", "3+y"])
        XCTAssertNotEqual(badSet.status, 0)
        XCTAssert(badSet.stderr.contains(#"--layers: "y" in "3+y" is not a layer index"#), badSet.stderr)
    }
}
