// PersonaHTTP's own contracts against loopback servers: a reply over the size limit is refused
// (announced or streamed) with an error naming the URL and the limit, and is not retried; the
// deadline bounds the whole request (a server that trickles bytes cannot hold it); no more requests
// are in flight than the client allows; BoundedBatch keeps job order, reports progress, bounds its
// jobs and stops at the first error.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaHTTP
import Hummingbird
import NIOCore

/// Counts requests being served at once and the most seen.
final class InFlightCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var current = 0
    private var most = 0
    var maximum: Int { lock.lock(); defer { lock.unlock() }; return most }
    func enter() { lock.lock(); current += 1; most = max(most, current); lock.unlock() }
    func leave() { lock.lock(); current -= 1; lock.unlock() }
}

final class HTTPClientTests: XCTestCase {
    func server(_ inFlight: InFlightCounter = InFlightCounter()) throws -> LoopbackServer {
        let router = Router()
        // 100 000 bytes with a Content-Length.
        router.get("/big") { _, _ -> Response in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: UInt8(ascii: "x"), count: 100_000)))
        }
        // 200 KiB in chunks, no Content-Length.
        router.get("/chunked") { _, _ -> Response in
            Response(
                status: .ok,
                body: ResponseBody { writer in
                    for _ in 0..<50 { try await writer.write(ByteBuffer(repeating: UInt8(ascii: "y"), count: 4096)) }
                    try await writer.finish(nil)
                })
        }
        // A byte every 0.2 s for 4 s: never idle long enough for an idle timeout.
        router.get("/trickle") { _, _ -> Response in
            Response(
                status: .ok,
                body: ResponseBody { writer in
                    for _ in 0..<20 {
                        try await writer.write(ByteBuffer(string: " "))
                        try await Task.sleep(nanoseconds: 200_000_000)
                    }
                    try await writer.finish(nil)
                })
        }
        // 0.3 s per request, counting how many are served at once.
        router.post("/slow") { _, _ -> Response in
            inFlight.enter()
            defer { inFlight.leave() }
            try await Task.sleep(nanoseconds: 300_000_000)
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        return try LoopbackServer(router)
    }

    func get(_ client: HTTPClient, _ url: String, deadline: Double = 30) -> Result<HTTPReply, TransportFailure> {
        let request = PersonaHTTP.HTTPRequest(method: "GET", url: URL(string: url)!)
        return Blocking.run { await client.send(request, deadline: deadline) }
    }

    func testRepliesOverTheLimitAreRefusedNamingTheURLAndTheLimit() throws {
        let server = try server()
        let small = HTTPClient(limits: .init(maxReplyBytes: 10_000))
        for path in ["/big", "/chunked"] {
            let url = server.base + path
            guard case let .failure(failure) = get(small, url) else { return XCTFail("\(path): a reply over 10 000 bytes must be refused") }
            XCTAssertEqual(failure, .replyTooLarge(url: url, limit: 10_000))
            XCTAssertTrue(failure.description.contains(url) && failure.description.contains("10000 bytes"), failure.description)
        }
        let large = HTTPClient(limits: .init(maxReplyBytes: 300_000))
        guard case let .success(big) = get(large, server.base + "/big") else { return XCTFail("/big fits in 300 000 bytes") }
        XCTAssertEqual(big.body.count, 100_000)
        guard case let .success(chunked) = get(large, server.base + "/chunked") else { return XCTFail("/chunked fits in 300 000 bytes") }
        XCTAssertEqual(chunked.body.count, 50 * 4096)
    }

    /// The limit is not a passing fault: the poster gives up at once.
    func testAReplyOverTheLimitIsNotRetried() throws {
        let server = try ScriptedServer { _, _, _ in .init(body: String(repeating: "x", count: 50_000)) }
        let url = URL(string: server.baseURL + "/chat/completions")!
        let poster = RetryingPoster(
            endpoint: url, apiKey: nil, policy: RetryPolicy(maxRetries: 3, initialBackoffSeconds: 0.01),
            transport: HTTPClient(limits: .init(maxReplyBytes: 1000)))
        let outcome: Result<Int, Error> = Blocking.run {
            var requests = 0
            do { _ = try await poster.post(Data("{}".utf8), requests: &requests); return .success(requests) } catch { return .failure(error) }
        }
        guard case let .failure(error) = outcome, case let .gaveUp(reason)? = error as? PostFailure else { return XCTFail("\(outcome)") }
        XCTAssertTrue(reason.contains("larger than 1000 bytes") && reason.contains(url.absoluteString), reason)
        XCTAssertEqual(server.attempts, 1)
    }

    /// URLSession's timeout is an idle timeout; the client's deadline ends the request at 1 s though
    /// bytes keep coming every 0.2 s for 4 s.
    func testTheDeadlineBoundsTheWholeRequest() throws {
        let server = try server()
        let client = HTTPClient()
        let started = Date()
        let outcome = get(client, server.base + "/trickle", deadline: 1)
        XCTAssertEqual(outcome.failure, .timedOut(seconds: 1), "\(outcome)")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.95)
    }

    func testRequestsInFlightAreBoundedByTheClient() throws {
        for (limit, expected) in [(2, 2...2), (8, 3...8)] {
            let inFlight = InFlightCounter()
            let server = try server(inFlight)
            let client = HTTPClient(limits: .init(maxRequestsInFlight: limit))
            let request = PersonaHTTP.HTTPRequest(url: URL(string: server.base + "/slow")!, body: Data("{}".utf8))
            let replies = try BoundedBatch.run(count: 8, concurrency: 8) { _ in await client.send(request, deadline: 30) }
            XCTAssertEqual(replies.compactMap { try? $0.get().status }, Array(repeating: 200, count: 8))
            XCTAssertTrue(expected.contains(inFlight.maximum), "limit \(limit): \(inFlight.maximum) requests were served at once")
        }
    }

    func testBoundedBatchKeepsOrderReportsProgressBoundsJobsAndStopsAtTheFirstError() throws {
        let running = InFlightCounter()
        var seen: [Int] = []
        let squares = try BoundedBatch.run(count: 20, concurrency: 3, progress: { seen.append($0) }) { i -> Int in
            running.enter()
            defer { running.leave() }
            try await Task.sleep(nanoseconds: UInt64(20 - i) * 1_000_000)
            return i * i
        }
        XCTAssertEqual(squares, (0..<20).map { $0 * $0 })
        XCTAssertEqual(seen.last, 20)
        XCTAssertEqual(seen, seen.sorted())
        XCTAssertLessThanOrEqual(running.maximum, 3)

        struct Stop: Error {}
        let started = InFlightCounter()
        XCTAssertThrowsError(
            try BoundedBatch.run(count: 100, concurrency: 2) { i -> Int in
                started.enter()
                if i == 5 { throw Stop() }
                try await Task.sleep(nanoseconds: 10_000_000)
                return i
            }
        ) { XCTAssertTrue($0 is Stop, "\($0)") }
        XCTAssertLessThan(started.maximum, 100, "no new job starts after the first error")
        XCTAssertEqual(try BoundedBatch.run(count: 0, concurrency: 4) { i in i }, [])
    }
}

extension Result {
    var failure: Failure? { if case let .failure(f) = self { return f }; return nil }
}
