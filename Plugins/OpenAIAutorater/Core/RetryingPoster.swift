// What every client of an OpenAI-compatible server shares (the `openai` autorater, and remote
// generation with `persona run --engine openai`): POST with retries, and a bounded set of worker
// threads that each send one request at a time.
//
// Retries: 429, 5xx, 408, 409, timeouts and connection errors are retried with exponential backoff
// and full jitter, honouring a longer Retry-After (capped); 401/403 and 404 fail at once (the key or
// the URL is wrong for every request); any other status ends the one request with a reason. The API
// key never appears in a message, even when a server echoes it.
import Foundation

/// How a poster retries.
public struct RetryPolicy: Equatable, Sendable {
    /// Retries after the first attempt.
    public var maxRetries: Int
    public var initialBackoffSeconds: Double
    public var maxBackoffSeconds: Double
    /// Longest `Retry-After` honoured (longer values are capped).
    public var maxRetryAfterSeconds: Double
    /// Whole-request timeout.
    public var timeoutSeconds: Double
    public init(maxRetries: Int = 5, initialBackoffSeconds: Double = 0.5, maxBackoffSeconds: Double = 30, maxRetryAfterSeconds: Double = 120,
                timeoutSeconds: Double = 60) {
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
    /// This request only: a status that is not retried, or retries used up.
    case gaveUp(reason: String)
}

/// POSTs JSON to one endpoint with retries.
public final class RetryingPoster: @unchecked Sendable {
    public let endpoint: URL
    public let policy: RetryPolicy
    private let apiKey: String?
    private let transport: JudgeTransport
    /// Sleeps between retries (replaceable in tests).
    public var sleep: (Double) -> Void = { Thread.sleep(forTimeInterval: $0) }

    public init(endpoint: URL, apiKey: String?, policy: RetryPolicy, transport: JudgeTransport) {
        self.endpoint = endpoint; self.apiKey = apiKey; self.policy = policy; self.transport = transport
    }

    /// POSTs `body`; returns a 2xx reply. `requests` counts the attempts made.
    public func post(_ body: Data, requests: inout Int) throws -> HTTPReply {
        var headers = ["Content-Type": "application/json", "Accept": "application/json"]
        if let apiKey { headers["Authorization"] = "Bearer " + apiKey }
        var attempt = 0
        while true {
            requests += 1
            let outcome = transport.post(url: endpoint, headers: headers, body: body, timeout: policy.timeoutSeconds)
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
            case .failure(let failure):
                problem = failure.description
            }
            guard attempt < policy.maxRetries else {
                throw PostFailure.gaveUp(reason: "\(problem) (after \(attempt + 1) attempts)")
            }
            sleep(backoff(attempt: attempt, retryAfter: retryAfter))
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
           let e = o["error"] as? [String: Any], let m = e["message"] as? String { return String(m.prefix(300)) }
        return String(String(decoding: body.prefix(300), as: UTF8.self))
    }

    /// Never let the key appear in a message (some servers echo it).
    public func redacted(_ text: String) -> String {
        guard let apiKey, apiKey.count >= 4 else { return text }
        return text.replacingOccurrences(of: apiKey, with: "***")
    }
}

/// Runs `count` jobs on at most `concurrency` threads of their own (not concurrentPerform: its width
/// is the CPU count, and these workers mostly wait on the network). Results come back in job order;
/// `progress(done)` is called on the calling thread. The first error a job throws stops the others
/// taking new jobs and is rethrown.
public enum BoundedWorkers {
    public static func run<T>(count: Int, concurrency: Int, progress: (Int) -> Void = { _ in },
                              _ job: @escaping @Sendable (Int) throws -> T) throws -> [T] {
        let state = State<T>(count: count)
        let workers = min(max(concurrency, 1), count)
        guard workers > 0 else { return [] }
        let group = DispatchGroup()
        for _ in 0..<workers {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                while let index = state.nextIndex() {
                    do { state.finish(index, with: try job(index)) } catch { state.fail(error); return }
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        var reported = 0
        while let done = state.waitForProgress(after: reported) {
            reported = done
            progress(done)
        }
        group.wait()
        if let fatal = state.fatal { throw fatal }
        return try state.results.enumerated().map { i, r in
            guard let r else { throw PostFailure.gaveUp(reason: "internal: job \(i) did not finish") }
            return r
        }
    }

    private final class State<T>: @unchecked Sendable {
        private let lock = NSCondition()
        private(set) var results: [T?]
        private(set) var fatal: Error?
        private var next = 0
        private var done = 0
        init(count: Int) { results = [T?](repeating: nil, count: count) }

        func nextIndex() -> Int? {
            lock.lock(); defer { lock.unlock() }
            guard fatal == nil, next < results.count else { return nil }
            next += 1
            return next - 1
        }
        func finish(_ index: Int, with value: T) {
            lock.lock(); defer { lock.unlock() }
            results[index] = value
            done += 1
            lock.broadcast()
        }
        func fail(_ error: Error) { lock.lock(); if fatal == nil { fatal = error }; lock.broadcast(); lock.unlock() }
        /// Blocks until more than `reported` jobs are done (returns the count), or nil once every
        /// job is done or one failed.
        func waitForProgress(after reported: Int) -> Int? {
            lock.lock(); defer { lock.unlock() }
            while done == reported && fatal == nil && done < results.count { lock.wait() }
            return done > reported && fatal == nil ? done : nil
        }
    }
}

/// The answer of a chat-completions reply (`choices[0].message.content` and `finish_reason`), or
/// why the reply has none. Replies are outside data: anything else is a reason, never a trap.
public enum ChatCompletionReply {
    public static func parse(_ body: Data) -> Result<(content: String, finishReason: String?), PostFailure> {
        func bad(_ reason: String) -> Result<(content: String, finishReason: String?), PostFailure> { .failure(.gaveUp(reason: reason)) }
        guard let any = try? JSONSerialization.jsonObject(with: body) else { return bad("malformed reply: not JSON (\(body.count) bytes)") }
        guard let o = any as? [String: Any], let choices = o["choices"] as? [Any], let choice = choices.first as? [String: Any] else {
            return bad("malformed reply: no choices")
        }
        guard let message = choice["message"] as? [String: Any] else { return bad("malformed reply: choices[0] has no message") }
        let content: String
        if let c = message["content"] as? String { content = c }
        else if message["content"] == nil || message["content"] is NSNull { content = "" }
        else { return bad("malformed reply: choices[0].message.content is not a string") }
        return .success((content, choice["finish_reason"] as? String))
    }
}
