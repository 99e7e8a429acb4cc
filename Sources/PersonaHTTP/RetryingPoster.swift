// POST with retries, as every client of an OpenAI-compatible server here needs it (the `openai`
// autorater's plugin, and remote generation with `persona run --engine openai`).
//
// Retries: 429, 5xx, 408, 409, timeouts and connection errors are retried with exponential backoff
// and full jitter, honouring a longer Retry-After (capped); 401/403 and 404 fail at once (the key or
// the URL is wrong for every request); a reply larger than the client's limit and any other status
// end the one request with a reason. The API key never appears in a message, even when a server
// echoes it. Waits are `Task.sleep`: a cancelled caller stops retrying at once.
import Foundation

/// How a poster retries.
public struct RetryPolicy: Equatable, Sendable {
    /// Retries after the first attempt.
    public var maxRetries: Int
    public var initialBackoffSeconds: Double
    public var maxBackoffSeconds: Double
    /// Longest `Retry-After` honoured (longer values are capped).
    public var maxRetryAfterSeconds: Double
    /// Whole-request deadline of each attempt, seconds.
    public var timeoutSeconds: Double
    public init(
        maxRetries: Int = 5, initialBackoffSeconds: Double = 0.5, maxBackoffSeconds: Double = 30, maxRetryAfterSeconds: Double = 120,
        timeoutSeconds: Double = 60
    ) {
        self.maxRetries = maxRetries; self.initialBackoffSeconds = initialBackoffSeconds; self.maxBackoffSeconds = maxBackoffSeconds
        self.maxRetryAfterSeconds = maxRetryAfterSeconds; self.timeoutSeconds = timeoutSeconds
    }
}

/// Why a POST gave no usable reply.
public enum PostFailure: Error, Equatable, Sendable {
    /// 401/403: fails every request.
    case unauthorized(status: Int, message: String)
    /// 404: fails every request.
    case notFound(url: String, message: String)
    /// This request only: a status that is not retried, a reply over the size limit, or retries used up.
    case gaveUp(reason: String)
}

/// POSTs JSON to one endpoint with retries.
public final class RetryingPoster: Sendable {
    public let endpoint: URL
    public let policy: RetryPolicy
    private let apiKey: String?
    private let transport: HTTPTransport
    private let sleep: @Sendable (Double) async throws -> Void

    /// `sleep` waits between attempts (tests may replace it); it throws when the task is cancelled.
    public init(
        endpoint: URL, apiKey: String?, policy: RetryPolicy, transport: HTTPTransport,
        sleep: @escaping @Sendable (Double) async throws -> Void = { try await RetryingPoster.taskSleep($0) }
    ) {
        self.endpoint = endpoint; self.apiKey = apiKey; self.policy = policy; self.transport = transport; self.sleep = sleep
    }

    /// `Task.sleep` for `seconds` (at most a year: the conversion to nanoseconds must not overflow).
    public static func taskSleep(_ seconds: Double) async throws {
        guard seconds > 0 else { return try Task.checkCancellation() }
        try await Task.sleep(nanoseconds: UInt64(min(seconds, 365 * 86400) * 1e9))
    }

    /// POSTs `body`; returns a 2xx reply. `requests` counts the attempts made. Throws `PostFailure`,
    /// or `CancellationError` when the calling task is cancelled.
    public func post(_ body: Data, requests: inout Int) async throws -> HTTPReply {
        var headers = ["Content-Type": "application/json", "Accept": "application/json"]
        if let apiKey { headers["Authorization"] = "Bearer " + apiKey }
        let request = HTTPRequest(method: "POST", url: endpoint, headers: headers, body: body)
        var attempt = 0
        while true {
            try Task.checkCancellation()
            requests += 1
            let outcome = await transport.send(request, deadline: policy.timeoutSeconds)
            var retryAfter: Double? = nil
            let problem: String
            switch outcome {
            case .success(let reply):
                switch reply.status {
                case 200..<300:
                    return reply
                case 401, 403:
                    throw PostFailure.unauthorized(status: reply.status, message: redacted(Self.errorMessage(reply.body)))
                case 404:
                    throw PostFailure.notFound(url: endpoint.absoluteString, message: redacted(Self.errorMessage(reply.body)))
                case 408, 409, 429, 500...599:
                    retryAfter = reply.headers["retry-after"].flatMap(Self.retryAfterSeconds)
                    problem = "HTTP \(reply.status): \(redacted(Self.errorMessage(reply.body)))"
                default:
                    throw PostFailure.gaveUp(reason: "HTTP \(reply.status): \(redacted(Self.errorMessage(reply.body)))")
                }
            case .failure(.cancelled):
                throw CancellationError()
            case .failure(let failure):
                if case .replyTooLarge = failure { throw PostFailure.gaveUp(reason: failure.description) }
                problem = failure.description
            }
            guard attempt < policy.maxRetries else {
                throw PostFailure.gaveUp(reason: "\(problem) (after \(attempt + 1) attempts)")
            }
            try await sleep(backoff(attempt: attempt, retryAfter: retryAfter))
            attempt += 1
        }
    }

    /// Exponential backoff with full jitter; a server's Retry-After wins when it asks for longer.
    public func backoff(attempt: Int, retryAfter: Double?) -> Double {
        let ceiling = min(policy.maxBackoffSeconds, policy.initialBackoffSeconds * pow(2, Double(min(attempt, 30))))
        let jittered = ceiling / 2 + Double.random(in: 0...1) * ceiling / 2
        guard let retryAfter else { return jittered }
        return max(jittered, min(retryAfter, policy.maxRetryAfterSeconds))
    }

    /// `Retry-After`: delta-seconds or an HTTP date.
    public static func retryAfterSeconds(_ value: String) -> Double? {
        let v = value.trimmingCharacters(in: .whitespaces)
        if let s = Double(v), s.isFinite, s >= 0 { return s }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: v) else { return nil }
        return max(0, date.timeIntervalSinceNow)
    }

    /// The `error.message` of an OpenAI-style error body, else the start of the body.
    public static func errorMessage(_ body: Data) -> String {
        if let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let e = o["error"] as? [String: Any], let m = e["message"] as? String
        {
            return String(m.prefix(300))
        }
        return String(String(decoding: body.prefix(300), as: UTF8.self))
    }

    /// Never let the key appear in a message (some servers echo it).
    public func redacted(_ text: String) -> String {
        guard let apiKey, apiKey.count >= 4 else { return text }
        return text.replacingOccurrences(of: apiKey, with: "***")
    }
}
