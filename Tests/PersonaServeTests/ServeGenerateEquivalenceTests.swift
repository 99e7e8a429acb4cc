// `persona serve` and `persona generate` run one generation loop: the same requests — greedy and
// sampled at temperature 1 over several seeds, ending on the end token, on max_tokens and on a stop
// string — sent to a served 135M model all at once (so they share and join the server's batch)
// give exactly the tokens, text, stop and usage of the library's `Generator` (what `persona
// generate` runs) with one request at a time, in plain and in streamed responses.
import Foundation
import XCTest
import PersonaModel
import PersonaTestSupport
@testable import PersonaCore
@testable import PersonaServer

final class ServeGenerateEquivalenceTests: XCTestCase {
    struct Case {
        var user: String
        var maxTokens: Int
        var sampling = SamplingParameters.greedy
        var stop: [String] = []
    }

    static let cases: [Case] = {
        var cases = [
            Case(user: "What is the capital of France?", maxTokens: 40),
            Case(user: "What is the capital of France?", maxTokens: 40, stop: [" is"]),
            Case(user: "Tell me a short story about a cat.", maxTokens: 16),
            Case(user: "Tell me a short story about a cat.", maxTokens: 48, stop: [", ", "\n"])
        ]
        for seed: UInt64 in [1, 2, 3, 42, 1234] {
            cases.append(Case(user: "Name a fruit.", maxTokens: 24, sampling: SamplingParameters(temperature: 1, seed: seed)))
            cases.append(
                Case(
                    user: "Describe the sea in one sentence.", maxTokens: 40, sampling: SamplingParameters(temperature: 1, seed: seed),
                    stop: [".", "!"]))
        }
        cases.append(Case(user: "Name a fruit.", maxTokens: 24, sampling: SamplingParameters(temperature: 1, topP: 0.9, topK: 40, seed: 7)))
        return cases
    }()

    func body(_ c: Case, stream: Bool) -> [String: Any] {
        var body: [String: Any] = [
            "messages": [["role": "user", "content": c.user]], "max_tokens": c.maxTokens,
            "temperature": c.sampling.temperature, "top_p": c.sampling.topP, "top_k": c.sampling.topK,
            "seed": Int(c.sampling.seed), "stop": c.stop, "logprobs": true, "top_logprobs": 1
        ]
        if stream { body["stream"] = true }
        return body
    }

    /// What a served answer says: the text, the finish reason, the tokens (as bytes, from the
    /// logprobs), and usage when the response carries it.
    struct Answer: Equatable {
        var text: String
        var finishReason: String?
        var tokenBytes: [[UInt8]]
        var promptTokens: Int?
        var completionTokens: Int?
    }

    static func bytes(_ entry: [String: Any]) -> [UInt8] { (entry["bytes"] as? [Int])?.map { UInt8($0) } ?? [] }

    static func answer(_ r: HTTPResult) -> Answer? {
        guard r.status == 200, let choice = (r.json["choices"] as? [[String: Any]])?.first else { return nil }
        let entries = (choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]] ?? []
        let usage = r.json["usage"] as? [String: Any]
        return Answer(
            text: (choice["message"] as? [String: Any])?["content"] as? String ?? "", finishReason: choice["finish_reason"] as? String,
            tokenBytes: entries.map(bytes), promptTokens: usage?["prompt_tokens"] as? Int, completionTokens: usage?["completion_tokens"] as? Int)
    }

    static func streamedAnswer(_ r: HTTPResult) throws -> Answer? {
        guard r.status == 200 else { return nil }
        var answer = Answer(text: "", finishReason: nil, tokenBytes: [], promptTokens: nil, completionTokens: nil)
        for event in r.text.components(separatedBy: "\n\n") where event.hasPrefix("data: {") {
            let chunk = try JSONSerialization.jsonObject(with: Data(event.dropFirst(6).utf8)) as? [String: Any]
            for choice in chunk?["choices"] as? [[String: Any]] ?? [] {
                answer.text += ((choice["delta"] as? [String: Any])?["content"] as? String) ?? ""
                answer.tokenBytes += ((choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]] ?? []).map(bytes)
                if let f = choice["finish_reason"] as? String { answer.finishReason = f }
            }
        }
        return answer
    }

    func testServedAnswersEqualGeneratorAnswers() throws {
        // One engine per model at a time: the other server tests' shared server lets go first.
        ServerTests.running?.stop(); ServerTests.running = nil
        var config = ServeConfiguration()
        config.port = 0
        config.maxBatchSize = 4
        config.maxQueued = 64
        let server = try RunningServer.start(PersonaServer(model: try ServeModels.servedModel(), vectors: CombinedVectorSource([]), configuration: config))
        defer { server.stop() }

        // The library: one request at a time, as `persona generate` runs it.
        let lm = try ServeModels.referenceModel()
        let expected = try Self.cases.map { c -> GenerationResult in
            let request = GenerationRequest(
                promptTokens: try lm.chatPrompt(user: c.user), maxNewTokens: c.maxTokens, sampling: c.sampling,
                stopTokens: lm.stopTokens, stopStrings: c.stop)
            return try lm.makeGenerator(maxBatchSize: 1).generate([request])[0]
        }
        let reasons = Set(expected.map(\.stopReason))
        XCTAssertEqual(reasons, [.endToken, .maxTokens, .stopString], "the cases should cover every stop rule")
        XCTAssertTrue(
            Set(zip(Self.cases, expected).filter { $0.0.sampling.temperature > 0 }.map(\.1.stopReason)).count > 1,
            "the sampled cases should end for different reasons")

        // The server: every case plain and streamed, all sent at once.
        let count = Self.cases.count
        nonisolated(unsafe) var served = [HTTPResult?](repeating: nil, count: 2 * count)
        let lock = NSLock()
        let group = DispatchGroup()
        for i in 0..<(2 * count) {
            group.enter()
            DispatchQueue.global().async {
                let r = try? HTTP.post(server.base + "/v1/chat/completions", json: self.body(Self.cases[i % count], stream: i >= count))
                lock.lock(); served[i] = r; lock.unlock()
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 600), .success)

        for (i, (c, result)) in zip(Self.cases, expected).enumerated() {
            let label = "case \(i) (\(c.user.debugDescription), seed \(c.sampling.seed), temperature \(c.sampling.temperature), stop \(c.stop))"
            let want = Answer(
                text: result.text ?? "", finishReason: ChatCompletionService.finishReason(result.stopReason),
                tokenBytes: result.tokens.map { lm.tokenizer.tokenBytes($0) ?? [] },
                promptTokens: result.promptTokens.count, completionTokens: result.tokens.count)
            let plain = try XCTUnwrap(served[i], label)
            XCTAssertEqual(Self.answer(plain), want, "\(label): \(plain.text.prefix(300))")
            var wantStreamed = want
            wantStreamed.promptTokens = nil; wantStreamed.completionTokens = nil
            let streamed = try XCTUnwrap(served[count + i], label)
            XCTAssertEqual(try Self.streamedAnswer(streamed), wantStreamed, "\(label), streamed")
        }
    }
}
