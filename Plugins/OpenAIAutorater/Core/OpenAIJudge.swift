// The `openai` autorater's scoring: asks any OpenAI-compatible `/chat/completions` endpoint for one
// token at temperature 0 with `logprobs` and `top_logprobs: 20`, and applies the shared rule
// (DESIGN.md, "Autoraters"): score = probability-weighted mean of the top tokens that are integers
// 0–100; no score when they carry less than 0.25 of the probability or the judge refuses
// (JudgeVerdictRule, the one rule local-judge applies too).
//
// Multi-digit numbers. Tokenizers of small local models (Llama, Qwen, SmolLM) split "75" into "7",
// "5", so the one-token rule reads "7". With `expand_digits` (default "auto": on when every numeric
// top token is a single digit), each first digit d with probability ≥ `expand_min_probability` is
// asked again with d as a final assistant message to continue (`continue_final_message`, which
// `persona serve` and vLLM support) and the number's probability is computed as the local judge
// does it: P(d₁)·P(d₂|d₁)·…·P(end|d₁…dₖ), where "end" is any next token that does not begin with
// a digit (1 − the digit-initial tokens' probability among the top 20). Prefixes below the threshold count as
// complete numbers. A number token with a leading space (" 7") is continued with that text.
//
// Faults: 429, 5xx, 408, timeouts and connection errors are retried with exponential backoff and
// jitter (honouring Retry-After); 401/403/404 fail the whole batch; any other failure gives the
// item no score with the reason. Every item ends in a score or a reason.
//
// HTTP, retries and bounded concurrency are the host's client, PersonaHTTP (Sources/PersonaHTTP),
// compiled into this plugin; this core keeps only the judge's requests and scoring. This file needs
// no network stack (the judge-reply fuzzer builds it with a transport that answers from memory);
// OpenAIJudge+HTTPClient.swift gives the judge its real client.
import Foundation
import PersonaHTTP

/// One verdict.
public struct OpenAIVerdict: Sendable, Equatable {
    public var score: Double?
    public var noScoreReason: String?
    public var numberMass: Double
    /// Numbers (as text), "REFUSAL" or other tokens with their probabilities, best first.
    public var alternatives: [Alternative]
    /// Requests this item needed (1 without digit expansion).
    public var requestCount: Int

    public struct Alternative: Sendable, Equatable {
        public var text: String
        public var probability: Double
    }
}

public final class OpenAIJudge: @unchecked Sendable {
    public static let version = "1.0.0"
    public let configuration: OpenAIJudgeConfiguration
    private let poster: RetryingPoster

    /// Reads the API key from the environment variable the configuration names (when it names one).
    /// `transport` carries the requests (HTTPClient; tests and the fuzzer answer from memory).
    public init(
        configuration: OpenAIJudgeConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment,
        transport: HTTPTransport
    ) throws {
        self.configuration = configuration
        var apiKey: String? = nil
        if let variable = configuration.apiKeyEnvironmentVariable {
            guard let key = environment[variable], !key.isEmpty else { throw OpenAIJudgeError.missingAPIKey(variable: variable) }
            apiKey = key
        }
        guard let url = URL(string: configuration.baseURL + "/chat/completions") else {
            throw OpenAIJudgeError.configuration("base_url \"\(configuration.baseURL)\" does not make a URL")
        }
        poster = RetryingPoster(endpoint: url, apiKey: apiKey, policy: configuration.retryPolicy, transport: transport)
    }

    public var cacheIdentity: String { configuration.cacheIdentity }

    // MARK: Batch

    /// Scores every prompt (the eval prompt with question and answer filled), with at most
    /// `concurrency` items at once (each sends its requests one after the other); results in prompt
    /// order. Throws only for failures of the whole batch (401/403, 404). Blocks the calling thread;
    /// `progress(done)` is called on it (it need not escape).
    public func score(_ prompts: [String], progress: (Int) -> Void = { _ in }) throws -> [OpenAIVerdict] {
        do {
            return try BoundedBatch.run(count: prompts.count, concurrency: configuration.concurrency, progress: progress) { [self] i in
                try await scoreOne(prompts[i])
            }
        } catch let failure as PostFailure {
            throw Self.batchError(failure)
        }
    }

    /// A failure of the whole batch as the autorater reports it.
    static func batchError(_ failure: PostFailure) -> Error {
        switch failure {
        case let .unauthorized(status, message): return OpenAIJudgeError.unauthorized(status: status, message: message)
        case let .notFound(url, message): return OpenAIJudgeError.notFound(url: url, message: message)
        case let .gaveUp(reason): return ItemFailure(reason: reason)
        }
    }

    // MARK: One item

    /// A failed request that ends the item (not the batch).
    struct ItemFailure: Error { let reason: String }

    public func scoreOne(_ prompt: String) async throws -> OpenAIVerdict {
        var requests = 0
        do {
            let first = try await topLogprobs(prompt: prompt, continuing: nil, requests: &requests)
            var numbers: [Int: Double] = [:]
            var others: [String: Double] = [:]
            let numeric = first.filter { Self.digits($0.text) != nil }
            let expand: Bool
            switch configuration.expandDigits {
            case .on: expand = true
            case .off: expand = false
            case .auto: expand = !numeric.isEmpty && numeric.allSatisfy { Self.digits($0.text)!.count == 1 }
            }
            for entry in first {
                guard let d = Self.digits(entry.text) else {
                    others[entry.text, default: 0] += entry.probability
                    continue
                }
                if expand, d.count == 1, let n = Self.number(d), entry.probability >= configuration.expandMinProbability {
                    try await expandNumber(prompt: prompt, text: entry.text, digits: d, probability: entry.probability, into: &numbers, requests: &requests)
                    _ = n
                } else if let n = Int(d), (0...100).contains(n) {
                    numbers[n, default: 0] += entry.probability
                } else {
                    others[entry.text, default: 0] += entry.probability
                }
            }
            return Self.verdict(numbers: numbers, others: others, requests: requests)
        } catch let failure as ItemFailure {
            return OpenAIVerdict(score: nil, noScoreReason: failure.reason, numberMass: 0, alternatives: [], requestCount: requests)
        }
    }

    /// Adds P(number) for every number that starts with `digits` (reached with probability
    /// `probability`): asks for the next token after `text` and splits the mass between "the number
    /// ends here" (any non-digit token) and each next digit.
    private func expandNumber(
        prompt: String, text: String, digits: String, probability: Double,
        into numbers: inout [Int: Double], requests: inout Int
    ) async throws {
        let next = try await topLogprobs(prompt: prompt, continuing: text, requests: &requests)
        var digitMass = 0.0
        for entry in next {
            // "End" is any token that does not begin with a digit (as the local judge counts it).
            guard let firstByte = entry.text.utf8.first, firstByte >= 48, firstByte <= 57 else { continue }
            digitMass += entry.probability
            guard let more = Self.pureDigits(entry.text) else { continue }  // "5." cannot continue a bare number
            let candidate = digits + more
            guard let n = Self.number(candidate) else { continue }  // "05", "101": not a number 0–100
            let p = probability * entry.probability
            if p >= configuration.expandMinProbability {
                try await expandNumber(prompt: prompt, text: text + entry.text, digits: candidate, probability: p, into: &numbers, requests: &requests)
            } else {
                numbers[n, default: 0] += p
            }
        }
        if let n = Self.number(digits) { numbers[n, default: 0] += probability * max(0, 1 - digitMass) }
    }

    /// The shared rule applied to numbers' probabilities.
    static func verdict(numbers: [Int: Double], others: [String: Double], requests: Int) -> OpenAIVerdict {
        let mass = numbers.values.reduce(0, +)
        var alternatives = numbers.map { OpenAIVerdict.Alternative(text: String($0.key), probability: $0.value) }
        alternatives += others.map { OpenAIVerdict.Alternative(text: $0.key, probability: $0.value) }
        alternatives.sort { $0.probability > $1.probability || ($0.probability == $1.probability && $0.text < $1.text) }
        alternatives = Array(alternatives.prefix(20))
        // The rule every autorater applies (Sources/PersonaCore/Judging/JudgeVerdictRule.swift). Only first
        // tokens are seen here, so P(REFUSAL) is the probability of first tokens that start it.
        let refusal = others.filter { JudgeVerdictRule.startsRefusal($0.key) }.values.reduce(0, +)
        if let reason = JudgeVerdictRule.noScoreReason(numberMass: mass, refusalProbability: refusal) {
            return OpenAIVerdict(score: nil, noScoreReason: reason, numberMass: mass, alternatives: alternatives, requestCount: requests)
        }
        return OpenAIVerdict(
            score: JudgeVerdictRule.expectedScore(numbers.map { ($0.key, $0.value) }), noScoreReason: nil,
            numberMass: mass, alternatives: alternatives, requestCount: requests)
    }

    /// The digits of a token that is a whole number, surrounding whitespace allowed (" 75").
    static func digits(_ token: String) -> String? {
        let t = token.trimmingCharacters(in: .whitespacesAndNewlines)
        return pureDigits(t)
    }

    /// The token itself when it is only ASCII digits.
    static func pureDigits(_ token: String) -> String? {
        guard !token.isEmpty, token.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return token
    }

    /// The integer 0–100 these digits spell, written without leading zeros.
    static func number(_ digits: String) -> Int? {
        guard digits.count <= 3, digits == "0" || !digits.hasPrefix("0"), let n = Int(digits), (0...100).contains(n) else { return nil }
        return n
    }

    // MARK: Requests

    struct Top { let text: String; let probability: Double }

    /// The top-20 next tokens after the prompt (and, when `continuing`, that much of the assistant's answer).
    private func topLogprobs(prompt: String, continuing: String?, requests: inout Int) async throws -> [Top] {
        var messages: [[String: String]] = [["role": "user", "content": prompt]]
        var body: [String: Any] = ["model": configuration.model, "max_tokens": 1, "temperature": 0, "logprobs": true, "top_logprobs": 20, "seed": 0]
        if let continuing {
            messages.append(["role": "assistant", "content": continuing])
            body["continue_final_message"] = true
            body["add_generation_prompt"] = false
        }
        body["messages"] = messages
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: body) } catch {
            throw ItemFailure(reason: "could not encode the request: \(error.localizedDescription)")
        }
        let reply = try await send(data, requests: &requests)
        return try Self.parseTopLogprobs(reply.body)
    }

    /// Parses `choices[0].logprobs.content[0].top_logprobs` into probabilities.
    static func parseTopLogprobs(_ body: Data) throws -> [Top] {
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: body) } catch {
            throw ItemFailure(reason: "malformed reply: not JSON (\(body.count) bytes)")
        }
        guard let o = any as? [String: Any], let choices = o["choices"] as? [Any], let choice = choices.first as? [String: Any] else {
            throw ItemFailure(reason: "malformed reply: no choices")
        }
        guard let logprobs = choice["logprobs"] as? [String: Any], let content = logprobs["content"] as? [Any] else {
            throw ItemFailure(reason: "the reply carries no logprobs (the server must support logprobs and top_logprobs)")
        }
        guard let first = content.first as? [String: Any], let top = first["top_logprobs"] as? [Any], !top.isEmpty else {
            throw ItemFailure(reason: "the reply carries no top_logprobs")
        }
        // Entries with the same text are one alternative (two token ids can print alike, e.g. byte
        // tokens), their mass added, so that a continuation is asked about once. The probabilities of
        // distinct tokens cannot sum past 1: a reply where they do is malformed (a broken or hostile server
        // would otherwise multiply the digit expansion's requests: the judge-reply fuzzer's timeout).
        var result: [Top] = []
        var index: [String: Int] = [:]
        var total = 0.0
        for case let entry as [String: Any] in top {
            guard let token = entry["token"] as? String, let lp = (entry["logprob"] as? NSNumber)?.doubleValue, lp.isFinite else {
                throw ItemFailure(reason: "malformed reply: a top_logprobs entry without token or logprob")
            }
            let p = exp(min(lp, 0))
            total += p
            if let i = index[token] {
                result[i] = Top(text: token, probability: result[i].probability + p)
            } else {
                index[token] = result.count
                result.append(Top(text: token, probability: p))
            }
        }
        guard total <= 1.01 else {
            throw ItemFailure(reason: String(format: "malformed reply: the top_logprobs probabilities sum to %.3f, more than 1", total))
        }
        return result
    }

    /// POSTs with retries. Returns a 2xx reply; throws `ItemFailure` (this item has no score) or
    /// `OpenAIJudgeError` (the batch fails).
    private func send(_ body: Data, requests: inout Int) async throws -> HTTPReply {
        do { return try await poster.post(body, requests: &requests) } catch let failure as PostFailure {
            if case let .gaveUp(reason) = failure { throw ItemFailure(reason: reason) }
            throw Self.batchError(failure)
        }
    }

    func backoff(attempt: Int, retryAfter: Double?) -> Double { poster.backoff(attempt: attempt, retryAfter: retryAfter) }
    static func retryAfterSeconds(_ value: String) -> Double? { RetryingPoster.retryAfterSeconds(value) }
}
