// Helpers for the server tests: an in-process `persona serve` on an ephemeral loopback port, and a
// small blocking HTTP client.
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import XCTest
import PersonaTestSupport
@testable import PersonaCore
@testable import PersonaServer
import PersonaModel

/// A running server; `stop()` cancels it.
final class RunningServer: @unchecked Sendable {
    let port: Int
    let task: Task<Void, Error>
    let server: PersonaServer
    var base: String { "http://127.0.0.1:\(port)" }

    init(port: Int, task: Task<Void, Error>, server: PersonaServer) { self.port = port; self.task = task; self.server = server }

    /// Stops the server and waits for its engine thread to let go of the model.
    func stop() {
        task.cancel()
        server.service.engine.stop()
        server.service.engine.waitUntilStopped()
    }

    /// Starts `server` on port 0 and waits until it listens.
    static func start(_ server: PersonaServer) throws -> RunningServer {
        let portBox = PortBox()
        let task = Task { try await server.run { port in portBox.set(port) } }
        guard let port = portBox.wait(seconds: 30) else { task.cancel(); throw TestEnvironment.skipOrFail("the server did not start") }
        return RunningServer(port: port, task: task, server: server)
    }
}

final class PortBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var port: Int?
    func set(_ p: Int) { condition.lock(); port = p; condition.broadcast(); condition.unlock() }
    func wait(seconds: Double) -> Int? {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock(); defer { condition.unlock() }
        while port == nil { if !condition.wait(until: deadline) { break } }
        return port
    }
}

/// A blocking HTTP exchange.
struct HTTPResult {
    let status: Int
    let body: Data
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var text: String { String(decoding: body, as: UTF8.self) }
}

enum HTTP {
    static let session: URLSession = {
        let c = URLSessionConfiguration.ephemeral
        c.httpMaximumConnectionsPerHost = 64
        c.timeoutIntervalForRequest = 300
        return URLSession(configuration: c)
    }()

    static func request(_ method: String, _ url: String, body: Data? = nil, timeout: Double = 300) throws -> HTTPResult {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = timeout
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<HTTPResult, Error> = .failure(URLError(.unknown))
        session.dataTask(with: request) { data, response, error in
            if let error {
                result = .failure(error)
            } else {
                result = .success(HTTPResult(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data ?? Data()))
            }
            done.signal()
        }.resume()
        done.wait()
        return try result.get()
    }

    static func post(_ url: String, json: [String: Any]) throws -> HTTPResult {
        try request("POST", url, body: try JSONSerialization.data(withJSONObject: json))
    }
}

/// The 135M model, loaded once per process for the servers (a second instance serves in-process
/// comparisons: one transformer must never run on two threads at once).
enum ServeModels {
    nonisolated(unsafe) static var served: LanguageModel?
    nonisolated(unsafe) static var reference: LanguageModel?
    static let lock = NSLock()

    static func servedModel() throws -> LanguageModel {
        lock.lock(); defer { lock.unlock() }
        if let m = served { return m }
        let m = try LoadedModels.exactLanguageModel("smollm2-135m")  // see referenceModel
        served = m
        return m
    }

    static func referenceModel() throws -> LanguageModel {
        lock.lock(); defer { lock.unlock() }
        if let m = reference { return m }
        // Exact: these tests hold the server's numbers to in-process ones computed another way
        // (a whole prefill against decode steps, teacher forcing against capture during
        // generation) at float32 rounding.
        let m = try LoadedModels.exactLanguageModel("smollm2-135m")
        reference = m
        return m
    }
}

/// Asserts an OpenAI-style error body with the given status.
func assertAPIError(_ r: HTTPResult, status: Int, param: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(r.status, status, r.text, file: file, line: line)
    let error = r.json["error"] as? [String: Any]
    XCTAssertNotNil(error, "no error object in \(r.text)", file: file, line: line)
    XCTAssertNotNil(error?["message"] as? String, file: file, line: line)
    XCTAssertNotNil(error?["type"] as? String, file: file, line: line)
    XCTAssertTrue(error?.keys.contains("param") ?? false, file: file, line: line)
    XCTAssertTrue(error?.keys.contains("code") ?? false, file: file, line: line)
    if let param { XCTAssertEqual(error?["param"] as? String, param, file: file, line: line) }
}
