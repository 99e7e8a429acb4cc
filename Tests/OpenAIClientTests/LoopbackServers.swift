// Loopback servers the client tests start themselves (no other network in tests): a Hummingbird
// application on an ephemeral port of 127.0.0.1, and on it ScriptedServer, an OpenAI-compatible
// /v1/chat/completions whose every reply the test decides.
import Foundation
import Dispatch
import XCTest
import PersonaTestSupport
import Hummingbird
import NIOCore

/// `router` served on 127.0.0.1 at an ephemeral port until the server is released.
final class LoopbackServer: @unchecked Sendable {
    let port: Int
    private let task: Task<Void, Error>
    var base: String { "http://127.0.0.1:\(port)" }

    init(_ router: Router<BasicRequestContext>) throws {
        let listening = PortSignal()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in listening.set(channel.localAddress?.port ?? 0) })
        task = Task { try await app.run() }
        guard let p = listening.wait(seconds: 20) else { task.cancel(); throw TestEnvironment.skipOrFail("loopback server did not start") }
        port = p
    }

    deinit { task.cancel() }
}

private final class PortSignal: @unchecked Sendable {
    private let ready = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var port: Int?
    func set(_ p: Int) { lock.lock(); port = p; lock.unlock(); ready.signal() }
    func wait(seconds: Double) -> Int? {
        guard ready.wait(timeout: .now() + seconds) == .success else { return nil }
        lock.lock(); defer { lock.unlock() }
        return port
    }
}

/// A loopback server answering /v1/chat/completions with whatever `behaviour` says.
final class ScriptedServer: @unchecked Sendable {
    struct Reply: Sendable {
        var status = 200
        var headers: [String: String] = [:]
        var body: String
        var delay: Double = 0
    }
    typealias Behaviour = @Sendable (_ attempt: Int, _ request: [String: Any], _ authorization: String?) -> Reply

    let behaviour: Behaviour
    private let lock = NSLock()
    private var count = 0
    private var seen: [[String: Any]] = []
    var attempts: Int { lock.lock(); defer { lock.unlock() }; return count }
    var requests: [[String: Any]] { lock.lock(); defer { lock.unlock() }; return seen }
    private var server: LoopbackServer?
    var port: Int { server?.port ?? 0 }

    init(_ behaviour: @escaping Behaviour) throws {
        self.behaviour = behaviour
        let router = Router()
        router.post("/v1/chat/completions") { [self] request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            let json = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
            let auth = request.headers[.authorization]
            let attempt: Int = {
                lock.lock(); defer { lock.unlock() }
                count += 1; seen.append(json)
                return count
            }()
            let reply = behaviour(attempt, json, auth)
            if reply.delay > 0 { try await Task.sleep(nanoseconds: UInt64(reply.delay * 1e9)) }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            if let retryAfter = reply.headers["Retry-After"] { headers[.retryAfter] = retryAfter }
            return Response(status: .init(code: reply.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: reply.body)))
        }
        server = try LoopbackServer(router)
    }

    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// An OpenAI reply whose first token has these top alternatives.
    static func logprobs(_ top: [(String, Double)]) -> String {
        let entries = top.map { t, p in ["token": t, "logprob": log(p), "bytes": Array(t.utf8).map(Int.init)] as [String: Any] }
        let content: [String: Any] = ["token": top.first?.0 ?? "", "logprob": log(top.first?.1 ?? 1), "bytes": [], "top_logprobs": entries]
        let reply: [String: Any] = [
            "id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [
                [
                    "index": 0, "message": ["role": "assistant", "content": top.first?.0 ?? ""],
                    "logprobs": ["content": [content]], "finish_reason": "length"
                ]
            ]
        ]
        return String(decoding: try! JSONSerialization.data(withJSONObject: reply), as: UTF8.self)
    }
}
