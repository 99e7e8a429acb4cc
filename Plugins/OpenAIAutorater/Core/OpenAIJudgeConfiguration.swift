// Configuration of the `openai` autorater, read from the JSON the user passes
// (`--judge-config '{"base_url": …}'`). Unknown keys are an error (a typo must not silently fall
// back to a default). The API key itself is never part of the configuration: `api_key_env` names
// the environment variable that holds it.
import Foundation
import PersonaHTTP

public struct OpenAIJudgeConfiguration: Equatable, Sendable {
    /// How multi-digit numbers are read when the judge's tokenizer splits digits.
    public enum DigitExpansion: String, Sendable {
        /// Expand when every numeric top token is a single digit (the tokenizer splits numbers).
        case auto
        case on
        case off
    }

    /// e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1` (requests go to `{base_url}/chat/completions`).
    public var baseURL: String
    public var model: String
    /// Name of the environment variable holding the API key (none: no Authorization header).
    public var apiKeyEnvironmentVariable: String?
    /// Whole-request timeout, seconds.
    public var timeoutSeconds: Double = 60
    /// Retries after the first attempt on 429, 5xx, timeouts and connection errors.
    public var maxRetries: Int = 5
    /// Requests in flight at once.
    public var concurrency: Int = 8
    /// First backoff delay, seconds (doubled per retry, with jitter, capped by `maxBackoffSeconds`).
    public var initialBackoffSeconds: Double = 0.5
    public var maxBackoffSeconds: Double = 30
    /// Longest `Retry-After` honoured, seconds (longer values are capped).
    public var maxRetryAfterSeconds: Double = 120
    public var expandDigits: DigitExpansion = .auto
    /// A digit prefix is expanded (asked for its next digit or its end) when its probability is at
    /// least this much; less likely prefixes count as complete numbers.
    public var expandMinProbability: Double = 0.01

    public init(baseURL: String, model: String) { self.baseURL = baseURL; self.model = model }

    public static let knownKeys: Set<String> = [
        "base_url", "model", "api_key_env", "timeout_seconds", "max_retries", "concurrency", "initial_backoff_seconds",
        "max_backoff_seconds", "max_retry_after_seconds", "expand_digits", "expand_min_probability"
    ]

    /// Parses the configuration JSON.
    public static func parse(_ json: String) throws -> OpenAIJudgeConfiguration {
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: Data(json.utf8)) } catch {
            throw OpenAIJudgeError.configuration("the configuration is not valid JSON: \(error.localizedDescription)")
        }
        guard let o = any as? [String: Any] else { throw OpenAIJudgeError.configuration("the configuration must be a JSON object") }
        if let unknown = o.keys.sorted().first(where: { !knownKeys.contains($0) }) {
            throw OpenAIJudgeError.configuration("unknown configuration key \"\(unknown)\"; known keys: \(knownKeys.sorted().joined(separator: ", "))")
        }
        func string(_ key: String) throws -> String? {
            guard let v = o[key], !(v is NSNull) else { return nil }
            guard let s = v as? String else { throw OpenAIJudgeError.configuration("\(key) must be a string") }
            return s
        }
        func number(_ key: String, _ range: ClosedRange<Double>) throws -> Double? {
            guard let v = o[key], !(v is NSNull) else { return nil }
            guard let n = v as? NSNumber, !isBoolean(v), n.doubleValue.isFinite, range.contains(n.doubleValue) else {
                throw OpenAIJudgeError.configuration("\(key) must be a number in \(range.lowerBound)…\(range.upperBound), got \(v)")
            }
            return n.doubleValue
        }
        guard let base = try string("base_url"), !base.isEmpty else {
            throw OpenAIJudgeError.configuration("base_url is required (e.g. \"https://api.openai.com/v1\" or \"http://127.0.0.1:8080/v1\")")
        }
        guard let url = URL(string: base), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil else {
            throw OpenAIJudgeError.configuration("base_url \"\(base)\" is not an http(s) URL")
        }
        guard let model = try string("model"), !model.isEmpty else { throw OpenAIJudgeError.configuration("model is required (the judge model's name)") }
        var c = OpenAIJudgeConfiguration(baseURL: base.hasSuffix("/") ? String(base.dropLast()) : base, model: model)
        c.apiKeyEnvironmentVariable = try string("api_key_env").flatMap { $0.isEmpty ? nil : $0 }
        if let t = try number("timeout_seconds", 0.01...3600) { c.timeoutSeconds = t }
        if let r = try number("max_retries", 0...100) { c.maxRetries = Int(r) }
        if let n = try number("concurrency", 1...256) { c.concurrency = Int(n) }
        if let b = try number("initial_backoff_seconds", 0...600) { c.initialBackoffSeconds = b }
        if let b = try number("max_backoff_seconds", 0...3600) { c.maxBackoffSeconds = b }
        if let b = try number("max_retry_after_seconds", 0...3600) { c.maxRetryAfterSeconds = b }
        if let p = try number("expand_min_probability", 0...1) { c.expandMinProbability = p }
        if let v = o["expand_digits"], !(v is NSNull) {
            if isBoolean(v), let b = v as? Bool {
                c.expandDigits = b ? .on : .off
            } else if let s = v as? String, let mode = DigitExpansion(rawValue: s) {
                c.expandDigits = mode
            } else {
                throw OpenAIJudgeError.configuration("expand_digits must be true, false or \"auto\", got \(v)")
            }
        }
        return c
    }

    /// The retry and timeout settings as the shared poster takes them.
    public var retryPolicy: RetryPolicy {
        RetryPolicy(
            maxRetries: maxRetries, initialBackoffSeconds: initialBackoffSeconds, maxBackoffSeconds: maxBackoffSeconds,
            maxRetryAfterSeconds: maxRetryAfterSeconds, timeoutSeconds: timeoutSeconds)
    }

    /// What identifies this judge for caching: everything that can change a score, no secrets
    /// (neither the key nor the name of its variable; timeouts and retries do not change scores).
    public var cacheIdentity: String {
        "openai/\(OpenAIJudge.version) base_url=\(baseURL) model=\(model) expand_digits=\(expandDigits.rawValue) expand_min_probability=\(expandMinProbability)"
    }
}

/// Failures of the whole batch (everything else is a per-item no-score reason).
public enum OpenAIJudgeError: Error, CustomStringConvertible, Equatable {
    case configuration(String)
    case missingAPIKey(variable: String)
    /// 401/403: the key is missing, wrong or lacks access.
    case unauthorized(status: Int, message: String)
    /// 404: wrong base_url or unknown model.
    case notFound(url: String, message: String)

    public var description: String {
        switch self {
        case let .configuration(m): return "openai autorater configuration: \(m)"
        case let .missingAPIKey(v): return "openai autorater: the environment variable \(v) (api_key_env) is not set"
        case let .unauthorized(status, m): return "openai autorater: HTTP \(status), the server refused the API key (check api_key_env): \(m)"
        case let .notFound(url, m): return "openai autorater: HTTP 404 from \(url): check base_url and model: \(m)"
        }
    }
}

/// JSONSerialization gives numbers and booleans as NSNumber, and `1 is Bool` holds through bridging:
/// a boolean is the one whose Objective-C type code is "c".
func isBoolean(_ value: Any) -> Bool {
    guard let n = value as? NSNumber else { return false }
    return String(cString: n.objCType) == "c"
}
