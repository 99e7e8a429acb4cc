// HTTP for the `openai` autorater: one POST with a whole-request deadline, over
// FoundationNetworking's URLSession (libcurl underneath on Linux). A protocol so that the scoring
// logic does not depend on how bytes travel.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An HTTP reply (header names lowercased).
public struct HTTPReply: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data
    public init(status: Int, headers: [String: String], body: Data) { self.status = status; self.headers = headers; self.body = body }
}

/// A request that got no HTTP reply.
public enum TransportFailure: Error, Equatable, Sendable {
    case timedOut(seconds: Double)
    case connection(String)

    public var description: String {
        switch self {
        case let .timedOut(s): return "no reply within \(s) s (timeout_seconds)"
        case let .connection(m): return "connection failed: \(m)"
        }
    }
}

public protocol JudgeTransport: Sendable {
    /// POSTs `body`; blocks until a reply, a failure or `timeout` seconds.
    func post(url: URL, headers: [String: String], body: Data, timeout: Double) -> Result<HTTPReply, TransportFailure>
}

/// URLSession, blocking per call (callers run on their own worker threads).
public final class URLSessionTransport: JudgeTransport, @unchecked Sendable {
    private let session: URLSession

    public init(maxConnections: Int = 16) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = max(1, maxConnections)
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        session = URLSession(configuration: configuration)
    }

    deinit { session.invalidateAndCancel() }

    public func post(url: URL, headers: [String: String], body: Data, timeout: Double) -> Result<HTTPReply, TransportFailure> {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = body
        // libcurl's own timeout misbehaves below a second; the deadline below is the real bound.
        request.timeoutInterval = max(timeout, 1) + 1
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }

        let box = ReplyBox()
        let task = session.dataTask(with: request) { data, response, error in
            if let http = response as? HTTPURLResponse, error == nil {
                var fields: [String: String] = [:]
                for (k, v) in http.allHeaderFields { fields[String(describing: k).lowercased()] = String(describing: v) }
                box.set(.success(HTTPReply(status: http.statusCode, headers: fields, body: data ?? Data())))
            } else if let error = error as? URLError, error.code == .timedOut {
                box.set(.failure(.timedOut(seconds: timeout)))
            } else {
                box.set(.failure(.connection(error.map { ($0 as NSError).localizedDescription } ?? "no HTTP response")))
            }
        }
        task.resume()
        // URLSession's timeout is an idle timeout; the deadline here bounds the whole request.
        if let result = box.wait(seconds: timeout) { return result }
        task.cancel()
        return .failure(.timedOut(seconds: timeout))
    }
}

private final class ReplyBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<HTTPReply, TransportFailure>?

    func set(_ r: Result<HTTPReply, TransportFailure>) {
        condition.lock(); if result == nil { result = r }; condition.broadcast(); condition.unlock()
    }

    func wait(seconds: Double) -> Result<HTTPReply, TransportFailure>? {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock(); defer { condition.unlock() }
        while result == nil { if !condition.wait(until: deadline) { break } }
        return result
    }
}
