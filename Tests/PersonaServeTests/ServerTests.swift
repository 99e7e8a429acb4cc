// `persona serve` in-process on a loopback port with the 135M model: completions equal in-process
// generation (greedy and seeded sampling, steered and not), logprobs equal in-process
// log-probabilities, streaming, continuing an assistant message, 4xx JSON errors, 32 concurrent
// requests.
import Foundation
import XCTest
import PersonaModel
import PersonaTestSupport
@testable import PersonaCore
@testable import PersonaServer

final class ServerTests: XCTestCase {
    nonisolated(unsafe) static var running: RunningServer?
    nonisolated(unsafe) static var vectorPath: String = ""
    static let steeringLayer = 12

    /// One server for the whole class, with a steering vector (the reference's steering vector).
    func server() throws -> RunningServer {
        if let r = Self.running { return r }
        let model = try ServeModels.servedModel()
        let reference = try Reference.load("smollm2-135m")
        let vector = reference.json.dict("steering").dict("vector").floats("v")
        XCTAssertEqual(vector.count, model.config.hiddenSize)
        let dir = try TestPaths.temporaryDirectory()
        let url = dir.appendingPathComponent("probe.safetensors")
        try TraitVectors(rows: [vector], isSingle: true, metadata: ["persona.trait": "probe"]).write(to: url)
        Self.vectorPath = url.path
        var config = ServeConfiguration()
        config.port = 0
        config.maxBodyBytes = 64 * 1024
        config.maxTokensLimit = 256
        config.maxBatchSize = 8
        config.maxQueued = 64
        let server = PersonaServer(model: model, vectors: try VectorFileSource(files: ["probe": url.path], config: model.config), configuration: config)
        let r = try RunningServer.start(server)
        Self.running = r
        return r
    }

    func chat(_ body: [String: Any]) throws -> HTTPResult {
        try HTTP.post(try server().base + "/v1/chat/completions", json: body)
    }

    func content(_ r: HTTPResult) -> String? {
        ((r.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
    }

    /// In-process generation with the reference model instance.
    func inProcess(_ user: String, maxTokens: Int, sampling: SamplingParameters = .greedy, steering: [SteeringSpec] = []) throws -> GenerationResult {
        let lm = try ServeModels.referenceModel()
        let request = GenerationRequest(promptTokens: try lm.chatPrompt(user: user), maxNewTokens: maxTokens, sampling: sampling, stopTokens: lm.stopTokens)
        let hooks: [LayerHook] = steering.isEmpty ? [] : [try SteeringHook(steering, config: lm.config)]
        return try lm.transformer.withHooks(hooks) { try lm.makeGenerator(maxBatchSize: 1).generate([request])[0] }
    }

    func testModelsList() throws {
        let r = try HTTP.request("GET", try server().base + "/v1/models")
        XCTAssertEqual(r.status, 200)
        let data = try XCTUnwrap(r.json["data"] as? [[String: Any]])
        XCTAssertEqual(data.first?["id"] as? String, "smollm2-135m")
        XCTAssertEqual(data.first?["steering_vectors"] as? [String], ["probe"])
    }

    func testGreedyAndSeededCompletionsEqualInProcessGeneration() throws {
        let prompt = "Tell me about your favourite season."
        let greedy = try chat(["messages": [["role": "user", "content": prompt]], "max_tokens": 24, "temperature": 0])
        XCTAssertEqual(greedy.status, 200, greedy.text)
        let expected = try inProcess(prompt, maxTokens: 24)
        XCTAssertEqual(content(greedy), expected.text)
        let usage = try XCTUnwrap(greedy.json["usage"] as? [String: Any])
        XCTAssertEqual(usage["completion_tokens"] as? Int, expected.tokens.count)
        XCTAssertEqual(usage["prompt_tokens"] as? Int, expected.promptTokens.count)

        let sampled = try chat(["messages": [["role": "user", "content": prompt]], "max_tokens": 24, "temperature": 0.9, "top_p": 0.95, "seed": 1234])
        let expectedSampled = try inProcess(prompt, maxTokens: 24, sampling: SamplingParameters(temperature: 0.9, topP: 0.95, seed: 1234))
        XCTAssertEqual(content(sampled), expectedSampled.text)
        XCTAssertNotEqual(expectedSampled.text, expected.text, "sampling at temperature 0.9 should differ from greedy here")
    }

    func testSteeringThroughTheAPIEqualsInProcessSteering() throws {
        let prompt = "What do you think about people?"
        _ = try server()
        let lm = try ServeModels.referenceModel()
        let spec = try SteeringSpec.load(path: Self.vectorPath, layer: Self.steeringLayer, coefficient: 8, positions: .response, config: lm.config)
        let plain = try inProcess(prompt, maxTokens: 24)
        let steered = try inProcess(prompt, maxTokens: 24, steering: [spec])
        XCTAssertNotEqual(plain.text, steered.text, "the vector should change the continuation")

        let r = try chat([
            "messages": [["role": "user", "content": prompt]], "max_tokens": 24, "temperature": 0,
            "steering": [["vector": "probe", "layer": Self.steeringLayer, "coeff": 8, "positions": "response"]]
        ])
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(content(r), steered.text)
        // Unsteered and steered requests at the same time: each gets its own result.
        let group = DispatchGroup()
        nonisolated(unsafe) var results: [Int: String?] = [:]
        let lock = NSLock()
        for i in 0..<4 {
            group.enter()
            DispatchQueue.global().async {
                var body: [String: Any] = ["messages": [["role": "user", "content": prompt]], "max_tokens": 24, "temperature": 0]
                if i % 2 == 1 { body["steering"] = [["vector": "probe", "layer": Self.steeringLayer, "coeff": 8]] }
                let text = (try? self.chat(body)).flatMap(self.content)
                lock.lock(); results[i] = text; lock.unlock()
                group.leave()
            }
        }
        group.wait()
        for i in 0..<4 { XCTAssertEqual(results[i] ?? nil, i % 2 == 1 ? steered.text : plain.text, "request \(i)") }
        // coeff 0 is no steering.
        let zero = try chat([
            "messages": [["role": "user", "content": prompt]], "max_tokens": 24, "temperature": 0,
            "steering": [["vector": "probe", "layer": Self.steeringLayer, "coeff": 0]]
        ])
        XCTAssertEqual(content(zero), plain.text)
    }

    func testProjectionsThroughTheAPIEqualInProcessProjections() throws {
        let prompt = "What do you think about people?"
        _ = try server()
        let lm = try ServeModels.referenceModel()
        func local(_ hooks: [LayerHook]) throws -> String? {
            let request = GenerationRequest(promptTokens: try lm.chatPrompt(user: prompt), maxNewTokens: 24, stopTokens: lm.stopTokens)
            let results = try lm.transformer.withHooks(hooks) { try lm.makeGenerator(maxBatchSize: 1).generate([request]) }
            let result = try XCTUnwrap(results.first)
            return result.text
        }
        let plain = try local([])
        let direction = try TraitVectors.read(path: Self.vectorPath).vector(layer: 0, path: Self.vectorPath)
        // The probe direction ablated at every block, sent inline.
        let ablation = try ProjectionSpec(path: Self.vectorPath, intervention: .ablate, directionLayer: 0).makeHooks(config: lm.config)
        let ablated = try local(ablation)
        let a = try chat([
            "messages": [["role": "user", "content": prompt]], "max_tokens": 24, "temperature": 0,
            "projections": [["vector": direction.map(Double.init), "intervention": "ablate"]]
        ])
        XCTAssertEqual(a.status, 200, a.text)
        XCTAssertEqual(content(a), ablated)
        // A floor on the named vector at block 12 only, beside steering: steering first, then the projection.
        let steer = try SteeringSpec.load(path: Self.vectorPath, layer: Self.steeringLayer, coefficient: 2, positions: .response, config: lm.config)
        let floor = try ProjectionSpec(path: Self.vectorPath, intervention: .floor(threshold: 6), layers: [Self.steeringLayer]).makeHooks(config: lm.config)
        let floored = try local([try SteeringHook([steer], config: lm.config)] + floor)
        XCTAssertNotEqual(floored, plain, "a floor of 6 on the probe direction should change the continuation")
        let f = try chat([
            "messages": [["role": "user", "content": prompt]], "max_tokens": 24, "temperature": 0,
            "steering": [["vector": "probe", "layer": Self.steeringLayer, "coeff": 2]],
            "projections": [["vector": "probe", "intervention": "floor", "threshold": 6, "layers": [Self.steeringLayer]]]
        ])
        XCTAssertEqual(f.status, 200, f.text)
        XCTAssertEqual(content(f), floored)
        // A plain request beside them is untouched.
        XCTAssertEqual(content(try chat(["messages": [["role": "user", "content": prompt]], "max_tokens": 24, "temperature": 0])), plain)
        // Bad entries name the field.
        let hi = [["role": "user", "content": "hi"]]
        assertAPIError(try chat(["messages": hi, "projections": [["vector": "probe", "intervention": "cap"]]]), status: 400, param: "projections[0].threshold")
        assertAPIError(
            try chat(["messages": hi, "projections": [["vector": "probe", "intervention": "rotate"]]]), status: 400,
            param: "projections[0].intervention")
        assertAPIError(try chat(["messages": hi, "projections": [["vector": "probe", "layers": [99]]]]), status: 400, param: "projections[0].layers")
        assertAPIError(try chat(["messages": hi, "projections": [["vector": [1.0, 2.0]]]]), status: 400, param: "projections[0].vector")
        assertAPIError(try chat(["messages": hi, "projections": [["vector": "nope"]]]), status: 400, param: "projections[0].vector")
        assertAPIError(try chat(["messages": hi, "projections": "ablate"]), status: 400, param: "projections")
    }

    func testLogprobsAgreeWithInProcessLogProbabilities() throws {
        let messages = [["role": "user", "content": "Rate from 0 to 100 how cheerful this is: \"What a lovely day!\" Reply with a number only."]]
        let r = try chat(["messages": messages, "max_tokens": 3, "temperature": 0, "logprobs": true, "top_logprobs": 20])
        XCTAssertEqual(r.status, 200, r.text)
        let choice = try XCTUnwrap((r.json["choices"] as? [[String: Any]])?.first)
        let entries = try XCTUnwrap((choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
        XCTAssertEqual(entries.count, (r.json["usage"] as? [String: Any])?["completion_tokens"] as? Int)

        let lm = try ServeModels.referenceModel()
        var tokens = try lm.chatPrompt(user: messages[0]["content"]!)
        var worst: Float = 0
        for entry in entries {
            let expected = try lm.nextTokenLogProbabilities(promptTokens: tokens)
            let top = LogProbabilities.top(expected, count: 20)
            let served = try XCTUnwrap(entry["top_logprobs"] as? [[String: Any]])
            XCTAssertEqual(served.count, 20)
            for (s, e) in zip(served, top) {
                XCTAssertEqual((s["bytes"] as? [Int])?.map { UInt8($0) }, lm.tokenizer.tokenBytes(e.token))
                let lp = Float((s["logprob"] as? NSNumber)?.doubleValue ?? .nan)
                worst = max(worst, abs(lp - e.logProbability))
            }
            // The chosen token is the greedy one, and its logprob is the top one.
            XCTAssertEqual((entry["bytes"] as? [Int])?.map { UInt8($0) }, lm.tokenizer.tokenBytes(top[0].token))
            tokens.append(top[0].token)
        }
        print("max |served − in-process| logprob: \(worst)")
        XCTAssertLessThan(worst, 1e-5)
    }

    func testStreamingGivesTheSameTextAndEndsWithDone() throws {
        let prompt = "Name three colours."
        let plain = try chat(["messages": [["role": "user", "content": prompt]], "max_tokens": 20, "temperature": 0])
        let stream = try chat([
            "messages": [["role": "user", "content": prompt]], "max_tokens": 20, "temperature": 0, "stream": true,
            "stream_options": ["include_usage": true]
        ])
        XCTAssertEqual(stream.status, 200)
        let events = stream.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        XCTAssertEqual(events.last, "data: [DONE]")
        var text = ""
        var finish: String?
        var sawUsage = false
        for event in events.dropLast() {
            XCTAssertTrue(event.hasPrefix("data: "), event)
            let chunk = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(event.dropFirst(6).utf8)) as? [String: Any])
            XCTAssertEqual(chunk["object"] as? String, "chat.completion.chunk")
            if chunk["usage"] is [String: Any] { sawUsage = true }
            for choice in chunk["choices"] as? [[String: Any]] ?? [] {
                text += ((choice["delta"] as? [String: Any])?["content"] as? String) ?? ""
                if let f = choice["finish_reason"] as? String { finish = f }
            }
        }
        XCTAssertEqual(text, content(plain))
        XCTAssertEqual(finish, ((plain.json["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String))
        XCTAssertTrue(sawUsage)
    }

    func testStopStringsCutTheText() throws {
        let prompt = "Tell me a short story about a cat."
        let full = try XCTUnwrap(try inProcess(prompt, maxTokens: 40).text)
        // A stop string taken from the middle of the greedy answer (three characters, likely split across tokens).
        let middle = full.index(full.startIndex, offsetBy: full.count / 2)
        let stop = String(full[middle..<full.index(middle, offsetBy: 3)])
        let expected = String(full[..<full.range(of: stop)!.lowerBound])
        let r = try chat(["messages": [["role": "user", "content": prompt]], "max_tokens": 40, "temperature": 0, "stop": [stop, "\u{1}never"]])
        XCTAssertEqual(content(r), expected, "stop \(stop.debugDescription)")
        XCTAssertEqual((r.json["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String, "stop")
        // Streaming: the same text, nothing of the stop string sent.
        let stream = try chat(["messages": [["role": "user", "content": prompt]], "max_tokens": 40, "temperature": 0, "stop": stop, "stream": true])
        var text = ""
        for event in stream.text.components(separatedBy: "\n\n") where event.hasPrefix("data: {") {
            let chunk = try JSONSerialization.jsonObject(with: Data(event.dropFirst(6).utf8)) as? [String: Any]
            for choice in chunk?["choices"] as? [[String: Any]] ?? [] { text += ((choice["delta"] as? [String: Any])?["content"] as? String) ?? "" }
        }
        XCTAssertEqual(text, expected)
    }

    func testContinuingTheFinalAssistantMessage() throws {
        let lm = try ServeModels.referenceModel()
        let user = "Rate from 0 to 100 how cheerful this is: \"What a lovely day!\" Reply with a number only."
        let messages = [ChatMessage(role: "user", content: user), ChatMessage(role: "assistant", content: "7")]
        let ids = try ChatCompletionService.promptTokens(messages: messages, continueFinalMessage: true, model: lm)
        let base = try lm.chatPrompt(user: user)
        XCTAssertEqual(ids, base + lm.tokenizer.encode("7"), "continuing = generation prompt + the message's tokens")

        let r = try chat([
            "messages": messages.map { ["role": $0.role, "content": $0.content] }, "max_tokens": 1, "temperature": 0,
            "logprobs": true, "top_logprobs": 5
        ])
        XCTAssertEqual((r.json["usage"] as? [String: Any])?["prompt_tokens"] as? Int, ids.count)
        let expected = LogProbabilities.top(try lm.nextTokenLogProbabilities(promptTokens: ids), count: 5)
        let served =
            (((r.json["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])?.first?["top_logprobs"]
            as? [[String: Any]]
        XCTAssertEqual(served?.map { ($0["bytes"] as? [Int])?.map { UInt8($0) } ?? [] }, expected.map { lm.tokenizer.tokenBytes($0.token) ?? [] })
    }

    func testBadRequestsGetJSONErrors() throws {
        let base = try server().base + "/v1/chat/completions"
        let hi = [["role": "user", "content": "Hi"]]
        assertAPIError(try HTTP.request("POST", base, body: Data("{\"messages\": [".utf8)), status: 400)
        assertAPIError(try HTTP.request("POST", base, body: Data("[1, 2]".utf8)), status: 400)
        assertAPIError(try chat(["messages": hi, "max_tokens": -3]), status: 400, param: "max_tokens")
        assertAPIError(try chat(["messages": hi, "max_completion_tokens": 0]), status: 400, param: "max_completion_tokens")
        assertAPIError(try chat(["messages": hi, "max_tokens": 100_000]), status: 400, param: "max_tokens")
        assertAPIError(try chat(["messages": hi, "steering": [["vector": "nope", "layer": 3, "coeff": 2]]]), status: 400, param: "steering[0].vector")
        assertAPIError(try chat(["messages": hi, "steering": [["vector": "probe", "layer": 99, "coeff": 2]]]), status: 400, param: "steering[0].layer")
        assertAPIError(try chat(["messages": hi, "steering": [["vector": "probe", "layer": 3, "coeff": 2, "positions": "middle"]]]), status: 400)
        assertAPIError(try chat(["messages": hi, "n": 2]), status: 400, param: "n")
        assertAPIError(try chat(["messages": hi, "top_logprobs": 5]), status: 400, param: "top_logprobs")
        assertAPIError(try chat(["messages": hi, "logprobs": true, "top_logprobs": 21]), status: 400, param: "top_logprobs")
        assertAPIError(try chat(["messages": hi, "temperature": "hot"]), status: 400, param: "temperature")
        assertAPIError(try chat(["messages": []]), status: 400, param: "messages")
        assertAPIError(try chat(["max_tokens": 3]), status: 400, param: "messages")
        assertAPIError(try chat(["messages": [["role": "wizard", "content": "x"]]]), status: 400)
        // A user or system message without content (absent or null) is refused; an assistant one may omit it.
        assertAPIError(try chat(["messages": [["role": "user"]]]), status: 400, param: "messages[0].content")
        assertAPIError(
            try chat(["messages": [["role": "system", "content": NSNull()], ["role": "user", "content": "Hi"]] as [[String: Any]]]), status: 400,
            param: "messages[0].content")
        XCTAssertEqual(
            try chat([
                "messages": [
                    ["role": "user", "content": "Hi"], ["role": "assistant", "content": NSNull()],
                    ["role": "user", "content": "Hi"]
                ] as [[String: Any]], "max_tokens": 1
            ]).status, 200)
        assertAPIError(try chat(["messages": hi, "stop": [1, 2]]), status: 400, param: "stop")
        // Oversized body (the limit here is 64 KiB).
        assertAPIError(try chat(["messages": [["role": "user", "content": String(repeating: "x", count: 200_000)]]]), status: 413)
        // Unknown route, wrong method.
        assertAPIError(try HTTP.request("GET", try server().base + "/v1/nothing"), status: 404)
        // The server still works.
        XCTAssertEqual(try chat(["messages": hi, "max_tokens": 2]).status, 200)
    }

    func testThirtyTwoConcurrentRequestsAllComplete() throws {
        _ = try server()
        let prompts = (0..<32).map { "Give me one word that rhymes with \(["cat", "tree", "light", "stone"][$0 % 4]) (request \($0))." }
        let group = DispatchGroup()
        let lock = NSLock()
        nonisolated(unsafe) var texts = [String?](repeating: nil, count: 32)
        nonisolated(unsafe) var statuses = [Int](repeating: 0, count: 32)
        let started = Date()
        for i in 0..<32 {
            group.enter()
            DispatchQueue.global().async {
                let r = try? self.chat(["messages": [["role": "user", "content": prompts[i]]], "max_tokens": 6, "temperature": 0])
                lock.lock(); statuses[i] = r?.status ?? -1; texts[i] = r.flatMap(self.content); lock.unlock()
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 600), .success)
        print("32 concurrent requests: \(Date().timeIntervalSince(started)) s")
        XCTAssertEqual(statuses, [Int](repeating: 200, count: 32))
        // Batched in the server, each equals its own in-process generation.
        let lm = try ServeModels.referenceModel()
        let requests = try prompts.map { GenerationRequest(promptTokens: try lm.chatPrompt(user: $0), maxNewTokens: 6, stopTokens: lm.stopTokens) }
        let expected = try lm.makeGenerator(maxBatchSize: 32).generate(requests)
        XCTAssertEqual(texts, expected.map(\.text))
    }

    /// A 1 MiB single-word prompt (anyone who reaches the server can send one) is answered or
    /// refused with 400 within 2 s, and a normal request sent meanwhile is served.
    func testOneMebibyteWordIsAnsweredQuicklyAndOthersAreServed() throws {
        let model = try ServeModels.servedModel()
        var config = ServeConfiguration()
        config.port = 0
        config.maxBodyBytes = 2 << 20
        config.maxBatchSize = 4
        config.maxQueued = 8
        Self.running?.stop(); Self.running = nil
        let r = try RunningServer.start(PersonaServer(model: model, vectors: CombinedVectorSource([]), configuration: config))
        defer { r.stop() }
        var state: UInt64 = 7
        let letters = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        let word = String(
            decoding: (0..<(1 << 20)).map { _ -> UInt8 in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return letters[Int((state >> 33) % 26)]
            }, as: UTF8.self)
        let group = DispatchGroup()
        nonisolated(unsafe) var big: HTTPResult?, bigSeconds = 0.0
        group.enter()
        DispatchQueue.global().async {
            let start = Date()
            big = try? HTTP.post(r.base + "/v1/chat/completions", json: ["messages": [["role": "user", "content": word]], "max_tokens": 1, "temperature": 0])
            bigSeconds = Date().timeIntervalSince(start)
            group.leave()
        }
        Thread.sleep(forTimeInterval: 0.05)
        let small = try HTTP.post(
            r.base + "/v1/chat/completions", json: ["messages": [["role": "user", "content": "Hello there"]], "max_tokens": 2, "temperature": 0])
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        print("1 MiB single-word request: status \(big?.status ?? -1) in \(String(format: "%.2f", bigSeconds)) s: \(big?.text.prefix(160) ?? "")")
        XCTAssertTrue([200, 400].contains(big?.status ?? -1), "\(big?.status ?? -1) \(big?.text.prefix(300) ?? "")")
        if big?.status == 400 { XCTAssertTrue(big?.text.contains("context_length_exceeded") ?? false, big?.text ?? "") }
        XCTAssertEqual(small.status, 200, small.text)
    }

    func testQueueLimitGives429() throws {
        let model = try ServeModels.servedModel()
        var config = ServeConfiguration()
        config.port = 0
        config.maxBatchSize = 1
        config.maxQueued = 0
        // A second engine over the same model would race with the class's server: wait for it to be idle.
        Self.running?.stop(); Self.running = nil
        let r = try RunningServer.start(PersonaServer(model: model, vectors: CombinedVectorSource([]), configuration: config))
        defer { r.stop() }
        let group = DispatchGroup()
        let lock = NSLock()
        nonisolated(unsafe) var statuses: [Int] = []
        nonisolated(unsafe) var busy: HTTPResult?
        for _ in 0..<6 {
            group.enter()
            DispatchQueue.global().async {
                let res = try? HTTP.post(
                    r.base + "/v1/chat/completions", json: ["messages": [["role": "user", "content": "Hello there"]], "max_tokens": 32, "temperature": 0])
                lock.lock(); statuses.append(res?.status ?? -1); if res?.status == 429 { busy = res }; lock.unlock()
                group.leave()
            }
        }
        group.wait()
        XCTAssertTrue(statuses.contains(200), "\(statuses)")
        XCTAssertTrue(statuses.contains(429), "\(statuses)")
        if let busy { assertAPIError(busy, status: 429) }
    }
}
