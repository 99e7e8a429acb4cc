// `persona judge` as a user runs it: the built binary, the `openai` plugin found next to it, a
// loopback server the test controls.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaCore

final class JudgeCommandTests: XCTestCase {
    func persona(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        guard let folder = PluginHost.executableDirectory() else { throw TestEnvironment.skipOrFail("no build folder") }
        let binary = folder + "/persona"
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw TestEnvironment.skipOrFail("\(binary) is not built") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    func testJudgeWithTheOpenAIPlugin() throws {
        let server = try ScriptedServer { _, request, _ in
            let prompt = ((request["messages"] as? [[String: Any]])?.first?["content"] as? String) ?? ""
            return prompt.contains("Q: good question") && prompt.contains("A: fine answer")
                ? .init(body: ScriptedServer.logprobs([("80", 0.6), ("90", 0.2), ("Hmm", 0.2)]))
                : .init(status: 400, body: #"{"error":{"message":"unexpected prompt"}}"#)
        }
        let config = #"{"base_url": "\#(server.baseURL)", "model": "judge"}"#
        let r = try persona([
            "judge", "--autorater", "openai", "--judge-config", config, "--eval-prompt", "Q: {question}\nA: {answer}\nScore?",
            "--question", "good question", "--answer", "fine answer", "--json"
        ])
        XCTAssertEqual(r.status, 0, r.err)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], r.out)
        XCTAssertEqual((json["score"] as? NSNumber)?.doubleValue ?? -1, (80 * 0.6 + 90 * 0.2) / 0.8, accuracy: 1e-9)
        XCTAssertEqual((json["numberMass"] as? NSNumber)?.doubleValue ?? -1, 0.8, accuracy: 1e-9)
        XCTAssertEqual(((json["alternatives"] as? [[String: Any]])?.first)?["text"] as? String, "80")

        let text = try persona([
            "judge", "--autorater", "openai", "--judge-config", config, "--eval-prompt", "Q: {question}\nA: {answer}\nScore?",
            "--question", "good question", "--answer", "fine answer"
        ])
        XCTAssertTrue(text.out.contains("score:     82.5"), text.out)
        XCTAssertTrue(text.out.contains("number mass: 80.0%"), text.out)

        // A bad configuration is a clear error and a failing exit status.
        let bad = try persona(["judge", "--autorater", "openai", "--judge-config", #"{"model": "judge"}"#, "--coherence", "--question", "q", "--answer", "a"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("base_url is required"), bad.err)
        // Exactly one of --trait, --eval-prompt, --coherence.
        XCTAssertNotEqual(try persona(["judge", "--question", "q", "--answer", "a"]).status, 0)
    }
}
