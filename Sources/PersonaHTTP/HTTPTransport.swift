// The seam between Persona's clients of OpenAI-compatible servers and the bytes on the wire: a
// request, a reply, the ways an exchange ends without a usable reply, and the protocol a transport
// implements. HTTPClient (URLSession over libcurl) is the real one; tests and the judge-reply fuzzer
// answer from memory. This file needs only Foundation, not FoundationNetworking (the fuzz build
// compiles it without the network stack).
import Foundation

/// One HTTP request.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: URL
    public var headers: [String: String]
    public var body: Data?
    public init(method: String = "POST", url: URL, headers: [String: String] = [:], body: Data? = nil) {
        self.method = method; self.url = url; self.headers = headers; self.body = body
    }
}

/// An HTTP reply (header names lowercased).
public struct HTTPReply: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data
    public init(status: Int, headers: [String: String], body: Data) { self.status = status; self.headers = headers; self.body = body }
}

/// A request that got no usable HTTP reply.
public enum TransportFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// No complete reply within the whole-request deadline (connect, send, wait and receive together).
    case timedOut(seconds: Double)
    case connection(String)
    /// The reply's body is larger than the client accepts. A limit, not a passing fault: never retried.
    case replyTooLarge(url: String, limit: Int)
    /// The calling task was cancelled.
    case cancelled

    public var description: String {
        switch self {
        case let .timedOut(s): return "no reply within \(s) s (the whole-request deadline)"
        case let .connection(m): return "connection failed: \(m)"
        case let .replyTooLarge(url, limit): return "the reply from \(url) is larger than \(limit) bytes (the client's reply size limit)"
        case .cancelled: return "cancelled"
        }
    }
}

/// Sends one request and gives back its reply, or why there is none.
public protocol HTTPTransport: Sendable {
    /// Sends `request`; returns within `deadline` seconds, counted over the whole exchange.
    func send(_ request: HTTPRequest, deadline: Double) async -> Result<HTTPReply, TransportFailure>
}
