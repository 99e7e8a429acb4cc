// Batched generation on the 135M model: batch independence, stop conditions, the step-wise batch
// (admission between passes, cancellation), shared prefixes, streaming callbacks.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaModel
@testable import PersonaCore

final class GenerationTests: XCTestCase {
    func model() throws -> LanguageModel {
        try LoadedLanguageModels.model("smollm2-135m")
    }

    func testSameRequestAloneAndInABatchOf16GivesIdenticalTokens() throws {
        let lm = try model()
        let questions = [
            "Tell me about the sea.", "What is a cat?", "Name three colours.", "Why is the sky blue?", "Write a haiku.",
            "What is 2+2?", "Describe a forest.", "Who are you?", "Give me a recipe.", "What is music?", "Explain rain.",
            "Say hello.", "What is a star?", "Count to five.", "What is love?", "Describe a city at night."
        ]
        let sampling = SamplingParameters(temperature: 0.8, topP: 0.95, topK: 40, seed: 1234)
        let requests = try questions.map { q in
            GenerationRequest(promptTokens: try lm.chatPrompt(user: q), maxNewTokens: 24, sampling: sampling, stopTokens: lm.stopTokens)
        }
        let generator = lm.makeGenerator(maxBatchSize: 16)
        let batchedTokens = try generator.generate(requests).map(\.tokens)
        XCTAssertEqual(batchedTokens.count, requests.count)
        for index in [0, 7, 15] {
            let alone = try XCTUnwrap(try lm.makeGenerator(maxBatchSize: 1).generate([requests[index]]).first, "request \(index) alone has no result")
            XCTAssertFalse(alone.tokens.isEmpty)
            XCTAssertEqual(alone.tokens, batchedTokens[index], "request \(index) alone vs in a batch of 16")
        }
        // A smaller batch cap (sequences join as others finish) gives the same tokens too.
        let capped = try lm.makeGenerator(maxBatchSize: 5).generate(requests)
        XCTAssertEqual(capped.map(\.tokens), batchedTokens)
    }

    func testStopConditions() throws {
        let lm = try model()
        let prompt = try lm.chatPrompt(user: "What is the capital of France?")
        let g = lm.makeGenerator()
        let end = try g.generate([GenerationRequest(promptTokens: prompt, maxNewTokens: 40, stopTokens: lm.stopTokens)])[0]
        XCTAssertEqual(end.stopReason, .endToken)
        XCTAssertEqual(end.text, "The capital of France is Paris.")
        XCTAssertEqual(end.responseTokens.count, end.tokens.count - 1)
        let short = try g.generate([GenerationRequest(promptTokens: prompt, maxNewTokens: 3, stopTokens: lm.stopTokens)])[0]
        XCTAssertEqual(short.stopReason, .maxTokens)
        XCTAssertEqual(short.tokens.count, 3)
        let stopped = try XCTUnwrap(g.generate([GenerationRequest(promptTokens: prompt, maxNewTokens: 40, stopTokens: lm.stopTokens, stopStrings: [" is"])])[0])
        XCTAssertEqual(stopped.stopReason, .stopString)
        XCTAssertEqual(stopped.text, "The capital of France")
        XCTAssertThrowsError(try g.generate([GenerationRequest(promptTokens: [], maxNewTokens: 3)]))
    }

    func testStepwiseBatchAdmitsBetweenPassesAndCancels() throws {
        let lm = try model()
        let requests = try ["Name a fruit.", "Name a tree.", "Name a colour."].map {
            GenerationRequest(
                promptTokens: try lm.chatPrompt(user: $0), maxNewTokens: 10, sampling: SamplingParameters(temperature: 1, seed: 5),
                stopTokens: lm.stopTokens)
        }
        let expected = try lm.makeGenerator(maxBatchSize: 1).generate(requests)
        let batch = lm.makeGenerationBatch()
        var results: [Int: GenerationResult] = [:]
        var streamed: [Int: [Int]] = [:]
        func step() throws {
            for event in try batch.step() {
                switch event {
                case .token(let t):
                    XCTAssertNil(results[t.id], "a token after the result")
                    streamed[t.id, default: []].append(t.token)
                case let .finished(id, result): results[id] = result
                }
            }
        }
        XCTAssertNil(try batch.admit(requests[0], id: 10))
        XCTAssertThrowsError(try batch.admit(requests[1], id: 10), "an id already in the batch")
        try step(); try step()
        // Two join the running one between passes; one of them leaves after its first token.
        XCTAssertNil(try batch.admit(requests[1], id: 11))
        XCTAssertNil(try batch.admit(requests[2], id: 12))
        try step()
        batch.cancel(12)
        XCTAssertFalse(batch.ids.contains(12))
        while !batch.isEmpty { try step() }
        XCTAssertEqual(results[10], expected[0])
        XCTAssertEqual(results[11], expected[1])
        XCTAssertNil(results[12])
        XCTAssertEqual(streamed[10], expected[0].tokens)
        XCTAssertEqual(streamed[12], Array(expected[2].tokens.prefix(1)))
        // No tokens asked: answered at admission, without a pass.
        var none = requests[0]
        none.maxNewTokens = 0
        let answered = try XCTUnwrap(try batch.admit(none, id: 1))
        XCTAssertEqual(answered.tokens, [])
        XCTAssertEqual(answered.stopReason, .maxTokens)
        XCTAssertEqual(answered.text, "")
        XCTAssertTrue(batch.isEmpty)
    }

    func testSharedPrefixIsReusedAndStreamingSeesEveryToken() throws {
        let lm = try model()
        let prompts = try ["Name a fruit.", "Name a tree."].map { try lm.chatPrompt(user: $0, system: "You are a brief assistant.") }
        // The shared prefix: the common leading tokens.
        let common = zip(prompts[0], prompts[1]).prefix { $0 == $1 }.count
        let g = lm.makeGenerator()
        let prefix = try g.prefill(Array(prompts[0].prefix(common)))
        XCTAssertEqual(prefix.count, common)
        var streamed: [Int: [Int]] = [:]
        let shared = try g.generate(prompts.map { GenerationRequest(promptTokens: $0, maxNewTokens: 12, stopTokens: lm.stopTokens, prefix: prefix) }) {
            streamed[$0, default: []].append($1)
        }
        XCTAssertEqual(prefix.count, common, "the shared prefix cache is copied, not extended")
        let plain = try g.generate(prompts.map { GenerationRequest(promptTokens: $0, maxNewTokens: 12, stopTokens: lm.stopTokens) })
        for i in 0..<2 {
            XCTAssertEqual(streamed[i], shared[i].tokens)
            // Greedy continuations agree (the prefix path only changes float rounding).
            XCTAssertEqual(shared[i].tokens, plain[i].tokens)
        }
    }
}

enum LoadedLanguageModels {
    nonisolated(unsafe) static var cache: [String: LanguageModel] = [:]
    static func model(_ name: String) throws -> LanguageModel {
        if let m = cache[name] { return m }
        let m = try LoadedModels.exactLanguageModel(name)  // the expected texts are the reference's greedy ones
        cache[name] = m
        return m
    }
}
