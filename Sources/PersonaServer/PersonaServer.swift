// `persona serve`: an OpenAI-compatible HTTP server over Hummingbird 2. Routes:
//   GET  /v1/models              the served model (and the steering vectors it knows)
//   POST /v1/chat/completions    chat completions, streaming (server-sent events) or not
// Every error is OpenAI-style JSON with a 4xx/5xx status; one log line per request.
import Foundation
import PersonaCore
import Hummingbird
import NIOCore
import PersonaModel

public final class PersonaServer: @unchecked Sendable {
    public let service: ChatCompletionService
    private var configuration: ServeConfiguration { service.configuration }

    public init(service: ChatCompletionService) { self.service = service }

    /// Loads nothing, starts nothing: wraps an already loaded model in an engine and a service.
    public convenience init(model: LanguageModel, vectors: any SteeringVectorSource, configuration: ServeConfiguration) {
        let engine = InferenceEngine(model: model, maxBatchSize: configuration.maxBatchSize, maxQueued: configuration.maxQueued)
        self.init(service: ChatCompletionService(engine: engine, vectors: vectors, configuration: configuration))
    }

    /// Runs until the task is cancelled (or, with `handleSignals`, until SIGINT/SIGTERM).
    /// `onRunning(port)` is called once the socket listens (port 0 picks a free port).
    public func run(handleSignals: Bool = false, onRunning: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        service.engine.start()
        defer { service.engine.stop() }
        let router = Router()
        router.add(middleware: ErrorJSONMiddleware<BasicRequestContext>(log: configuration.log))
        router.get("/v1/models") { [service] _, _ -> Response in
            Self.json(service.modelsResponse(created: Int(Date().timeIntervalSince1970)))
        }
        router.post("/v1/chat/completions") { [self] request, _ -> Response in
            try await self.chatCompletions(request)
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "persona"),
            onServerRunning: { channel in onRunning(channel.localAddress?.port ?? 0) })
        if handleSignals { try await app.runService() } else { try await app.run() }
    }

    // MARK: Chat completions

    private func chatCompletions(_ request: Request) async throws -> Response {
        let started = Date()
        var request = request
        let body = try await request.collectBody(upTo: configuration.maxBodyBytes)
        // Off the event loops: a long prompt's tokenization must not stall other connections.
        let preparer = self.service, data = Data(buffer: body)
        let prepared: PreparedCompletion = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do { continuation.resume(returning: try preparer.prepare(data)) } catch { continuation.resume(throwing: error) }
            }
        }
        let id = "chatcmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        let created = Int(started.timeIntervalSince1970)

        let (events, continuation) = AsyncStream<EngineEvent>.makeStream(bufferingPolicy: .unbounded)
        let jobID: Int
        do {
            jobID = try service.engine.submit(prepared.job) { event in
                continuation.yield(event)
                if case .token = event { return }
                continuation.finish()
            }
        } catch EngineError.queueFull(let limit) {
            throw APIError(
                status: 429, message: "the server is busy (\(limit) requests waiting); retry later", type: "rate_limit_error", code: "rate_limit_exceeded")
        } catch let e as APIError {
            throw e
        } catch {
            throw APIError(status: 400, message: "\(error)")
        }
        let engine = service.engine
        continuation.onTermination = { reason in
            if case .cancelled = reason { engine.cancel(jobID) }
        }
        let log = configuration.log
        let steered =
            (prepared.request.steering.isEmpty ? "" : " steered(\(prepared.request.steering.count))")
            + (prepared.request.projections.isEmpty ? "" : " projections(\(prepared.request.projections.count))")

        if !prepared.request.stream {
            var tokens: [EngineToken] = []
            var finish: EngineFinish?
            for await event in events {
                switch event {
                case .token(let t): tokens.append(t)
                case .finished(let f): finish = f
                case .failed(let message): throw APIError(status: 500, message: message, type: "server_error")
                }
            }
            guard let finish else {
                engine.cancel(jobID)
                throw APIError(status: 500, message: "generation ended without a result", type: "server_error")
            }
            log?(
                "POST /v1/chat/completions 200 \(seconds(since: started)) prompt=\(finish.promptTokenCount) completion=\(finish.tokens.count) finish=\(ChatCompletionService.finishReason(finish.stopReason))\(steered)"
            )
            return Self.json(service.response(id: id, created: created, prepared: prepared, tokens: tokens, finish: finish))
        }

        // Streaming: server-sent events, one chunk per token, then the finish chunk, then [DONE].
        let service = self.service
        let responseBody = ResponseBody { writer in
            func send<T: Encodable>(_ value: T) async throws {
                var buffer = ByteBuffer()
                buffer.writeString("data: ")
                buffer.writeBytes(try JSONEncoder().encode(value))
                buffer.writeString("\n\n")
                try await writer.write(buffer)
            }
            try await send(service.chunk(id: id, created: created, prepared: prepared, role: "assistant", content: ""))
            var outcome = "incomplete"
            for await event in events {
                switch event {
                case .token(let t):
                    if !t.text.isEmpty || prepared.request.logprobs {
                        try await send(service.chunk(id: id, created: created, prepared: prepared, content: t.text, token: t))
                    }
                case .finished(let f):
                    if !f.remainingText.isEmpty { try await send(service.chunk(id: id, created: created, prepared: prepared, content: f.remainingText)) }
                    let reason = ChatCompletionService.finishReason(f.stopReason)
                    try await send(service.chunk(id: id, created: created, prepared: prepared, content: nil, finishReason: reason))
                    if prepared.request.includeUsageInStream {
                        var usage = service.chunk(id: id, created: created, prepared: prepared, content: nil)
                        usage.choices = []
                        usage.usage = .init(
                            prompt_tokens: f.promptTokenCount, completion_tokens: f.tokens.count, total_tokens: f.promptTokenCount + f.tokens.count)
                        try await send(usage)
                    }
                    outcome = "prompt=\(f.promptTokenCount) completion=\(f.tokens.count) finish=\(reason)"
                case .failed(let message):
                    try await send(APIError(status: 500, message: message, type: "server_error").wireObject)
                    outcome = "failed: \(message)"
                }
            }
            var done = ByteBuffer()
            done.writeString("data: [DONE]\n\n")
            try await writer.write(done)
            try await writer.finish(nil)
            log?("POST /v1/chat/completions 200 (stream) \(seconds(since: started)) \(outcome)\(steered)")
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: responseBody)
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONEncoder().encode(value)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension APIError {
    /// The error object as an Encodable value (for an error inside an event stream).
    var wireObject: JSONObjectBox { JSONObjectBox(data: body) }

    var response: Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: HTTPResponse.Status(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Already-encoded JSON, re-emitted as it is.
struct JSONObjectBox: Encodable {
    let data: Data
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode((try? JSONDecoder().decode(JSONValueEncodable.self, from: data)) ?? JSONValueEncodable.null)
    }
}

/// A JSON value that can be written back (for `JSONObjectBox`).
enum JSONValueEncodable: Codable {
    case null, bool(Bool), number(Double), string(String), array([JSONValueEncodable]), object([String: JSONValueEncodable])
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValueEncodable].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValueEncodable].self))
        }
    }
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

/// Turns every error into OpenAI-style JSON (unknown routes and oversized bodies included) and
/// logs failed requests; nothing a client sends reaches a crash.
struct ErrorJSONMiddleware<Context: RequestContext>: RouterMiddleware {
    let log: (@Sendable (String) -> Void)?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = Date()
        let apiError: APIError
        do {
            let response = try await next(request, context)
            if request.uri.path != "/v1/chat/completions" || response.status.code != 200 {
                log?("\(request.method.rawValue) \(request.uri.path) \(response.status.code) \(seconds(since: started))")
            }
            return response
        } catch let e as APIError {
            apiError = e
        } catch is NIOTooManyBytesError {
            apiError = APIError(status: 413, message: "the request body is larger than this server's limit", code: "body_too_large")
        } catch let e as HTTPResponseError {
            let code = Int(e.status.code)
            let message =
                code == 404
                ? "no route \(request.method.rawValue) \(request.uri.path)"
                : (code == 405 ? "method \(request.method.rawValue) not allowed on \(request.uri.path)" : e.status.reasonPhrase)
            apiError = APIError(
                status: code, message: message, type: code >= 500 ? "server_error" : "invalid_request_error",
                code: code == 404 ? "not_found" : nil)
        } catch {
            apiError = APIError(status: 500, message: "internal error: \(error)", type: "server_error")
        }
        log?("\(request.method.rawValue) \(request.uri.path) \(apiError.status) \(seconds(since: started)) \(apiError.message.prefix(200))")
        return apiError.response
    }
}

/// "1.23s" since `start`.
func seconds(since start: Date) -> String {
    let ms = Int((Date().timeIntervalSince(start) * 1000).rounded())
    return "\(ms / 1000).\(String(ms % 1000 / 10 + 100).dropFirst())s"
}
