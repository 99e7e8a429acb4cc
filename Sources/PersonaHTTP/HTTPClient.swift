// PersonaHTTP: the one HTTP client of Persona, owned by the host's source tree (Sources/), used by
// remote generation (PersonaRemote, `--engine openai`) and linked into the `openai` autorater plugin
// (Plugins/OpenAIAutorater), which keeps only its scoring rules. No host module depends on plugin code.
//
// Built on FoundationNetworking's URLSession, which on Linux is libcurl (the system's
// libcurl4-openssl-dev, the package the project was asked to use), rather than AsyncHTTPClient
// (which also resolves in this package graph, through Hummingbird's dependencies). Why:
// - the plugin is a dynamic library loaded into the host: FoundationNetworking is a shared library
//   of the toolchain, so host and plugin use one copy of it; AsyncHTTPClient would link a second
//   static copy of SwiftNIO (event loops, thread-locals) and of BoringSSL into the plugin;
// - TLS, proxies (`https_proxy`), HTTP/2 and connection reuse come with libcurl, configured as the
//   system configures it;
// - no new package dependency and no extra build time.
// What URLSession does not give is added here: a whole-request deadline (URLSession's timeout is an
// idle timeout, reset by every byte; a server trickling bytes would hold a request for ever), a
// bound on the reply's size (URLSession buffers whatever arrives), and a fixed maximum of requests
// in flight across all callers of one client.
//
// Defaults: at most 16 requests in flight, replies of at most 8 MiB; the deadline is each call's
// (RetryPolicy.timeoutSeconds: 60 s for the judge, 600 s for remote generation).
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Dispatch

/// HTTP over URLSession with a whole-request deadline, a reply size limit and a cap on requests in flight.
public final class HTTPClient: HTTPTransport, @unchecked Sendable {
    public struct Limits: Equatable, Sendable {
        /// Requests in flight at once through this client; more wait their turn (first come, first served).
        public var maxRequestsInFlight: Int
        /// Largest reply body accepted, bytes; a larger one ends the request with `replyTooLarge`.
        public var maxReplyBytes: Int
        public init(maxRequestsInFlight: Int = 16, maxReplyBytes: Int = 8 << 20) {
            self.maxRequestsInFlight = max(1, maxRequestsInFlight); self.maxReplyBytes = max(0, maxReplyBytes)
        }
    }

    public let limits: Limits
    private let session: URLSession
    private let exchanges: ExchangeTable
    private let gate: InFlightGate

    public init(limits: Limits = Limits()) {
        self.limits = limits
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = limits.maxRequestsInFlight
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let delegateQueue = OperationQueue()
        delegateQueue.maxConcurrentOperationCount = 1
        exchanges = ExchangeTable()
        session = URLSession(configuration: configuration, delegate: exchanges, delegateQueue: delegateQueue)
        gate = InFlightGate(limit: limits.maxRequestsInFlight)
    }

    deinit { session.invalidateAndCancel() }

    /// Sends `request`; waits for a free slot first (the wait does not count against the deadline).
    public func send(_ request: HTTPRequest, deadline: Double) async -> Result<HTTPReply, TransportFailure> {
        await gate.enter()
        defer { gate.leave() }
        return await exchange(request, deadline: deadline)
    }

    private func exchange(_ request: HTTPRequest, deadline seconds: Double) async -> Result<HTTPReply, TransportFailure> {
        if Task.isCancelled { return .failure(.cancelled) }
        var urlRequest = URLRequest(url: request.url)
        urlRequest.httpMethod = request.method
        urlRequest.httpBody = request.body
        // libcurl's own (idle) timeout misbehaves below a second; the deadline below is the real bound.
        urlRequest.timeoutInterval = max(seconds, 1) + 1
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        let task = session.dataTask(with: urlRequest)
        let exchange = Exchange(url: request.url.absoluteString, limit: limits.maxReplyBytes, deadline: seconds)
        exchanges.add(exchange, for: task)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                exchange.wait(continuation)
                task.resume()
                // The whole-request deadline: connect, send, wait and receive together.
                let bounded = seconds.isFinite ? min(max(seconds, 0), 365 * 86400) : 365 * 86400
                DispatchQueue.global().asyncAfter(deadline: .now() + bounded) { [weak exchange, weak task] in
                    if exchange?.finish(.failure(.timedOut(seconds: seconds))) == true { task?.cancel() }
                }
            }
        } onCancel: {
            if exchange.finish(.failure(.cancelled)) { task.cancel() }
        }
    }
}

/// One request's state: the reply as it arrives, and the one outcome, handed to the waiting task
/// once (whichever comes first: the reply, the deadline, the size limit, cancellation).
private final class Exchange: @unchecked Sendable {
    let url: String
    let limit: Int
    let deadline: Double
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Result<HTTPReply, TransportFailure>, Never>?
    private var outcome: Result<HTTPReply, TransportFailure>?
    private var response: HTTPURLResponse?
    private var body = Data()

    init(url: String, limit: Int, deadline: Double) { self.url = url; self.limit = limit; self.deadline = deadline }

    /// Ends the exchange with `result` unless it has ended already; true when this call ended it.
    @discardableResult
    func finish(_ result: Result<HTTPReply, TransportFailure>) -> Bool {
        lock.lock()
        guard outcome == nil else { lock.unlock(); return false }
        outcome = result
        body = Data()
        let waiting = continuation
        continuation = nil
        lock.unlock()
        waiting?.resume(returning: result)
        return true
    }

    func wait(_ c: CheckedContinuation<Result<HTTPReply, TransportFailure>, Never>) {
        lock.lock()
        if let outcome { lock.unlock(); c.resume(returning: outcome); return }
        continuation = c
        lock.unlock()
    }

    /// The reply's head; false (refused) when it announces a body over the limit.
    func received(_ response: URLResponse) -> Bool {
        lock.lock()
        self.response = response as? HTTPURLResponse
        let ended = outcome != nil
        lock.unlock()
        if ended { return false }
        if response.expectedContentLength > Int64(limit) {
            finish(.failure(.replyTooLarge(url: url, limit: limit)))
            return false
        }
        return true
    }

    /// More of the body; false (refused) once it passes the limit.
    func received(_ data: Data) -> Bool {
        lock.lock()
        guard outcome == nil else { lock.unlock(); return false }
        let total = body.count.addingReportingOverflow(data.count)
        guard !total.overflow, total.partialValue <= limit else {
            lock.unlock()
            finish(.failure(.replyTooLarge(url: url, limit: limit)))
            return false
        }
        body.append(data)
        lock.unlock()
        return true
    }

    func completed(error: Error?) {
        lock.lock()
        let response = self.response, body = self.body
        lock.unlock()
        if let error {
            if let e = error as? URLError, e.code == .timedOut {
                finish(.failure(.timedOut(seconds: deadline)))
            } else {
                finish(.failure(.connection((error as NSError).localizedDescription)))
            }
            return
        }
        guard let response else { finish(.failure(.connection("no HTTP response"))); return }
        var fields: [String: String] = [:]
        for (name, value) in response.allHeaderFields { fields[String(describing: name).lowercased()] = String(describing: value) }
        finish(.success(HTTPReply(status: response.statusCode, headers: fields, body: body)))
    }
}

/// The session's delegate: routes each task's events to its exchange.
private final class ExchangeTable: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let lock = NSLock()
    private var exchanges: [Int: Exchange] = [:]

    func add(_ exchange: Exchange, for task: URLSessionTask) {
        lock.lock(); exchanges[task.taskIdentifier] = exchange; lock.unlock()
    }
    private func exchange(_ task: URLSessionTask, removing: Bool = false) -> Exchange? {
        lock.lock(); defer { lock.unlock() }
        return removing ? exchanges.removeValue(forKey: task.taskIdentifier) : exchanges[task.taskIdentifier]
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        let accepted = exchange(dataTask)?.received(response) ?? false
        completionHandler(accepted ? .allow : .cancel)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        if exchange(dataTask)?.received(data) != true { dataTask.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        exchange(task, removing: true)?.completed(error: error)
    }
}

/// At most `limit` holders at once; the others wait in arrival order without holding a thread.
private final class InFlightGate: @unchecked Sendable {
    private let lock = NSLock()
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { free = max(1, limit) }

    func enter() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            lock.lock()
            if free > 0 { free -= 1; lock.unlock(); c.resume() } else { waiting.append(c); lock.unlock() }
        }
    }

    func leave() {
        lock.lock()
        if waiting.isEmpty { free += 1; lock.unlock(); return }
        let next = waiting.removeFirst()
        lock.unlock()
        next.resume()
    }
}
