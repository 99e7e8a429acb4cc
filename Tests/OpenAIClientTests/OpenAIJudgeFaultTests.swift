// The `openai` autorater's scoring core (Plugins/OpenAIAutorater/Core) against loopback servers the
// test controls: 429 with Retry-After, 500 then success, connection refused, a reply slower than the
// timeout, a reply without logprobs, malformed JSON, 401/404, refusal, digit expansion, and the API
// key never leaking. Every item must end in a score or a recorded reason. The judge talks through
// PersonaHTTP's HTTPClient, as in the plugin. (A test target: no host module depends on plugin code.)
import Foundation
import XCTest
import PersonaTestSupport
@testable import OpenAIJudgeCore

final class OpenAIJudgeFaultTests: XCTestCase {
    func judge(_ server: ScriptedServer?, port: Int? = nil, _ extra: String = "", environment: [String: String] = [:]) throws -> OpenAIJudge {
        let base = server?.baseURL ?? "http://127.0.0.1:\(port ?? 1)/v1"
        let config = try OpenAIJudgeConfiguration.parse(
            """
            {"base_url": "\(base)", "model": "judge", "timeout_seconds": 5, "max_retries": 2, "initial_backoff_seconds": 0.05,
             "max_backoff_seconds": 0.2, "concurrency": 4\(extra)}
            """)
        return try OpenAIJudge(configuration: config, environment: environment)
    }

    let good = ScriptedServer.logprobs([("80", 0.5), ("90", 0.3), ("70", 0.1), ("Hello", 0.1)])
    let goodScore = (80 * 0.5 + 90 * 0.3 + 70 * 0.1) / 0.9

    func testScoresAndTheRequestShape() throws {
        let server = try ScriptedServer { _, _, _ in .init(body: ScriptedServer.logprobs([("80", 0.5), ("90", 0.3), ("70", 0.1), ("Hello", 0.1)])) }
        var seen: [Int] = []
        let verdicts = try judge(server).score(["p1", "p2", "p3"], progress: { seen.append($0) })
        XCTAssertEqual(verdicts.count, 3)
        XCTAssertEqual(seen.last, 3, "progress reaches the item count")
        XCTAssertEqual(seen, seen.sorted())
        for v in verdicts {
            XCTAssertEqual(try XCTUnwrap(v.score), goodScore, accuracy: 1e-9)
            XCTAssertEqual(v.numberMass, 0.9, accuracy: 1e-9)
            XCTAssertEqual(v.alternatives.first?.text, "80")
        }
        let request = try XCTUnwrap(server.requests.first)
        XCTAssertEqual(request["max_tokens"] as? Int, 1)
        XCTAssertEqual(request["temperature"] as? Int, 0)
        XCTAssertEqual(request["logprobs"] as? Bool, true)
        XCTAssertEqual(request["top_logprobs"] as? Int, 20)
        XCTAssertEqual(request["model"] as? String, "judge")
        XCTAssertNil(request["continue_final_message"], "multi-digit tokens: no expansion in auto mode")
    }

    func testRetryAfterOn429IsHonoured() throws {
        let good = self.good
        let server = try ScriptedServer { attempt, _, _ in
            attempt == 1 ? .init(status: 429, headers: ["Retry-After": "1"], body: #"{"error":{"message":"slow down"}}"#) : .init(body: good)
        }
        let started = Date()
        let v = try judge(server).score(["p"])
        XCTAssertEqual(try XCTUnwrap(v[0].score), goodScore, accuracy: 1e-9)
        XCTAssertEqual(server.attempts, 2)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.95, "Retry-After: 1 must be waited for")
    }

    func testServerErrorThenSuccess() throws {
        let good = self.good
        let server = try ScriptedServer { attempt, _, _ in attempt == 1 ? .init(status: 500, body: "oops") : .init(body: good) }
        let v = try judge(server).score(["p"])
        XCTAssertEqual(try XCTUnwrap(v[0].score), goodScore, accuracy: 1e-9)
        XCTAssertEqual(v[0].requestCount, 2)
    }

    func testPersistent503EndsInAReason() throws {
        let server = try ScriptedServer { _, _, _ in .init(status: 503, body: #"{"error":{"message":"overloaded"}}"#) }
        let v = try judge(server).score(["a", "b"])
        XCTAssertEqual(v.count, 2)
        for x in v {
            XCTAssertNil(x.score)
            XCTAssertTrue(x.noScoreReason?.contains("HTTP 503") ?? false, x.noScoreReason ?? "")
            XCTAssertTrue(x.noScoreReason?.contains("after 3 attempts") ?? false, x.noScoreReason ?? "")
        }
        XCTAssertEqual(server.attempts, 6)
    }

    func testConnectionRefused() throws {
        // A port with nothing listening: bound, then closed.
        let closed = try freePort()
        let v = try judge(nil, port: closed).score(["a", "b", "c"])
        XCTAssertEqual(v.count, 3)
        for x in v {
            XCTAssertNil(x.score)
            XCTAssertTrue(x.noScoreReason?.contains("connection failed") ?? false, x.noScoreReason ?? "")
        }
    }

    func testSlowReplyPastTheTimeout() throws {
        let good = self.good
        let server = try ScriptedServer { _, _, _ in .init(body: good, delay: 1.5) }
        let config = try OpenAIJudgeConfiguration.parse(
            #"{"base_url": "\#(server.baseURL)", "model": "judge", "timeout_seconds": 0.3, "max_retries": 1, "initial_backoff_seconds": 0.01}"#)
        let started = Date()
        let v = try OpenAIJudge(configuration: config).score(["p"])
        XCTAssertNil(v[0].score)
        XCTAssertTrue(v[0].noScoreReason?.contains("no reply within 0.3") ?? false, v[0].noScoreReason ?? "")
        // The reply comes after 1.5 s: no score and two counted attempts show each attempt ended at
        // its deadline (an upper bound on the wall clock would only measure the machine's load).
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThanOrEqual(elapsed, 0.55, "two attempts of 0.3 s each")
        XCTAssertEqual(server.attempts, 2)
    }

    func testReplyWithoutLogprobs() throws {
        let server = try ScriptedServer { _, _, _ in
            .init(body: #"{"choices":[{"index":0,"message":{"role":"assistant","content":"80"},"logprobs":null,"finish_reason":"length"}]}"#)
        }
        let v = try judge(server).score(["p"])
        XCTAssertNil(v[0].score)
        XCTAssertTrue(v[0].noScoreReason?.contains("no logprobs") ?? false, v[0].noScoreReason ?? "")
    }

    func testMalformedJSON() throws {
        let server = try ScriptedServer { attempt, _, _ in .init(body: attempt % 2 == 0 ? #"{"choices": [ {"# : "<html>bad gateway</html>") }
        let v = try judge(server).score(["a", "b"])
        XCTAssertEqual(v.count, 2)
        for x in v { XCTAssertNil(x.score); XCTAssertTrue(x.noScoreReason?.contains("malformed reply") ?? false, x.noScoreReason ?? "") }
    }

    func testUnauthorizedAndNotFoundFailTheBatchWithoutLeakingTheKey() throws {
        let secret = "sk-test-SECRET-1234567890"
        let server = try ScriptedServer { _, _, auth in
            .init(status: 401, body: #"{"error":{"message":"Incorrect API key provided: \#(auth ?? "")"}}"#)
        }
        let j = try judge(server, #", "api_key_env": "JUDGE_KEY""#, environment: ["JUDGE_KEY": secret])
        XCTAssertFalse(j.cacheIdentity.contains(secret))
        XCTAssertFalse(j.cacheIdentity.contains("JUDGE_KEY"))
        do {
            _ = try j.score(["a", "b"])
            XCTFail("401 must fail the batch")
        } catch let e as OpenAIJudgeError {
            guard case .unauthorized(401, let message) = e else { return XCTFail("\(e)") }
            XCTAssertFalse("\(e)".contains(secret), "\(e)")
            XCTAssertTrue(message.contains("***"), message)
        }
        XCTAssertLessThanOrEqual(server.attempts, 2, "401 is not retried (at most one request per item, in flight together)")
        let notFound = try ScriptedServer { _, _, _ in .init(status: 404, body: #"{"error":{"message":"The model judge does not exist"}}"#) }
        XCTAssertThrowsError(try judge(notFound).score(["a"])) { e in
            guard case .notFound = e as? OpenAIJudgeError else { return XCTFail("\(e)") }
        }
        // A named key variable that is not set is a configuration error.
        XCTAssertThrowsError(try judge(server, #", "api_key_env": "NOT_SET_ANYWHERE""#, environment: [:])) { e in
            XCTAssertEqual(e as? OpenAIJudgeError, .missingAPIKey(variable: "NOT_SET_ANYWHERE"))
        }
    }

    func testRefusalAndLowMass() throws {
        let server = try ScriptedServer { _, request, _ in
            let prompt = ((request["messages"] as? [[String: Any]])?.first?["content"] as? String) ?? ""
            return .init(
                body: prompt == "refuse"
                    ? ScriptedServer.logprobs([("REF", 0.9), ("50", 0.1)])
                    : ScriptedServer.logprobs([("The", 0.8), ("50", 0.2)]))
        }
        let v = try judge(server).score(["refuse", "ramble"])
        XCTAssertNil(v[0].score); XCTAssertEqual(v[0].noScoreReason, "the judge refuses (P(REFUSAL) = 0.900 ≥ number mass 0.100)")
        XCTAssertNil(v[1].score); XCTAssertEqual(v[1].noScoreReason, "numbers carry 0.200 of the probability (< 0.25)")
        XCTAssertEqual(v[1].numberMass, 0.2, accuracy: 1e-9)
    }

    /// local-judge's rule (JudgeVerdictRule): REFUSAL at least as likely as the numbers means no
    /// score even when the numbers carry more than the minimum mass; less likely, a score.
    func testRefusalLikelierThanTheNumbersWithholdsTheScoreAsLocalJudgeDoes() throws {
        let server = try ScriptedServer { _, request, _ in
            let prompt = ((request["messages"] as? [[String: Any]])?.first?["content"] as? String) ?? ""
            return .init(
                body: prompt == "refuse"
                    ? ScriptedServer.logprobs([("REF", 0.4), (" REFUSAL", 0.1), ("50", 0.3), ("The", 0.2)])
                    : ScriptedServer.logprobs([("REF", 0.29), ("50", 0.3), ("The", 0.41)]))
        }
        let v = try judge(server, #", "expand_digits": false"#).score(["refuse", "score"])
        XCTAssertNil(v[0].score)
        XCTAssertEqual(v[0].noScoreReason, "the judge refuses (P(REFUSAL) = 0.500 ≥ number mass 0.300)")
        XCTAssertEqual(v[1].score ?? -1, 50, accuracy: 1e-9, v[1].noScoreReason ?? "")
    }

    /// Split digits: "7" then "5" or end, "1" then "0" then "0" or end.
    func testDigitExpansionComputesWholeNumbers() throws {
        let server = try ScriptedServer { _, request, _ in
            let messages = request["messages"] as? [[String: Any]] ?? []
            let prefix = messages.count > 1 ? (messages[1]["content"] as? String ?? "") : nil
            switch prefix {
            case nil: return .init(body: ScriptedServer.logprobs([("7", 0.6), ("1", 0.3), ("Sorry", 0.1)]))
            case "7": return .init(body: ScriptedServer.logprobs([("5", 0.5), ("<|im_end|>", 0.4), (".", 0.1)]))
            case "75": return .init(body: ScriptedServer.logprobs([("<|im_end|>", 1.0)]))
            case "1": return .init(body: ScriptedServer.logprobs([("0", 0.9), ("<|im_end|>", 0.1)]))
            case "10": return .init(body: ScriptedServer.logprobs([("0", 0.8), ("<|im_end|>", 0.2)]))
            case "100": return .init(body: ScriptedServer.logprobs([("<|im_end|>", 0.95), ("0", 0.05)]))
            default: return .init(status: 400, body: #"{"error":{"message":"unexpected prefix"}}"#)
            }
        }
        let v = try judge(server).score(["p"])[0]
        // P(75)=.6·.5·1, P(7)=.6·.5, P(100)=.3·.9·.8·.95, P(10)=.3·.9·.2, P(1)=.3·.1
        let p: [Int: Double] = [75: 0.3, 7: 0.3, 100: 0.3 * 0.9 * 0.8 * 0.95, 10: 0.3 * 0.9 * 0.2, 1: 0.03]
        let mass = p.values.reduce(0, +)
        XCTAssertEqual(v.numberMass, mass, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(v.score), p.reduce(0) { $0 + Double($1.key) * $1.value } / mass, accuracy: 1e-9)
        XCTAssertEqual(v.requestCount, 6)
        let continued = server.requests.filter { $0["continue_final_message"] as? Bool == true }
        XCTAssertEqual(continued.count, 5)
        XCTAssertTrue(continued.allSatisfy { $0["add_generation_prompt"] as? Bool == false })
        // Off: the one-token rule reads single digits.
        let off = try judge(server, #", "expand_digits": false"#).score(["p"])[0]
        XCTAssertEqual(try XCTUnwrap(off.score), (7 * 0.6 + 1 * 0.3) / 0.9, accuracy: 1e-9)
    }

    /// A broken or hostile server's top_logprobs: the same text twice is one alternative (mass added,
    /// one continuation request), and probabilities that sum past 1 are a malformed reply, not a
    /// fan-out of continuation requests (the judge-reply fuzzer's timeout: 26 entries, twelve of
    /// them "8", took a second per reply).
    func testDuplicateAndOverfullTopLogprobs() throws {
        let server = try ScriptedServer { _, request, _ in
            let messages = request["messages"] as? [[String: Any]] ?? []
            let prefix = messages.count > 1 ? (messages[1]["content"] as? String ?? "") : nil
            switch prefix {
            case nil: return .init(body: ScriptedServer.logprobs([("7", 0.3), ("7", 0.3), ("Sorry", 0.1)]))
            case "7": return .init(body: ScriptedServer.logprobs([("<|im_end|>", 1.0)]))
            default: return .init(status: 400, body: #"{"error":{"message":"unexpected prefix"}}"#)
            }
        }
        let v = try judge(server).score(["p"])[0]
        XCTAssertEqual(v.requestCount, 2, "one continuation request for both 7s")
        XCTAssertEqual(v.numberMass, 0.6, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(v.score), 7, accuracy: 1e-9)
        let overfull = try ScriptedServer { _, _, _ in .init(body: ScriptedServer.logprobs(Array(repeating: ("8", 0.3), count: 12))) }
        let w = try judge(overfull).score(["p"])[0]
        XCTAssertNil(w.score)
        XCTAssertTrue(w.noScoreReason?.contains("sum to 3.600, more than 1") ?? false, w.noScoreReason ?? "")
        XCTAssertEqual(w.requestCount, 1)
    }

    func testConfigurationErrors() {
        XCTAssertThrowsError(try OpenAIJudgeConfiguration.parse("{}"))
        XCTAssertThrowsError(try OpenAIJudgeConfiguration.parse(#"{"base_url": "ftp://x", "model": "m"}"#))
        XCTAssertThrowsError(try OpenAIJudgeConfiguration.parse(#"{"base_url": "http://x/v1", "model": "m", "timeout": 3}"#)) { e in
            XCTAssertTrue("\(e)".contains("unknown configuration key \"timeout\""), "\(e)")
        }
        XCTAssertThrowsError(try OpenAIJudgeConfiguration.parse(#"{"base_url": "http://x/v1", "model": "m", "concurrency": 0}"#))
        XCTAssertThrowsError(try OpenAIJudgeConfiguration.parse(#"{"base_url": "http://x/v1", "model": "m", "max_retries": true}"#))
        XCTAssertEqual(
            try OpenAIJudgeConfiguration.parse(#"{"base_url": "http://x/v1/", "model": "m", "max_retries": 1, "expand_digits": false}"#),
            {
                var c = OpenAIJudgeConfiguration(baseURL: "http://x/v1", model: "m"); c.maxRetries = 1; c.expandDigits = .off; return c
            }())
        XCTAssertThrowsError(try OpenAIJudgeConfiguration.parse("not json"))
    }

    func testRetryAfterParsing() {
        XCTAssertEqual(OpenAIJudge.retryAfterSeconds("3"), 3)
        XCTAssertNil(OpenAIJudge.retryAfterSeconds("soon"))
        let future = Date(timeIntervalSinceNow: 30)
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = TimeZone(identifier: "GMT"); f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        let s = try? XCTUnwrap(OpenAIJudge.retryAfterSeconds(f.string(from: future)))
        XCTAssertEqual(s ?? 0, 30, accuracy: 2)
    }
}
