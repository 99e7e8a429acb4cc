// `--engine openai`: answers generated on an OpenAI-compatible server (vLLM, llama.cpp's
// llama-server, `persona serve`) through `POST {base_url}/chat/completions`, many requests in flight
// (bounded by `concurrency`), retried as the `openai` autorater retries: both use PersonaHTTP (its
// HTTPClient and RetryingPoster). The pipeline computes activations of the answers itself
// (AnswerEngine.swift).
//
// Each request sends the messages, `max_tokens`, `temperature`, `top_p` and the item's `seed`, so a
// server that honours seeds (vLLM, llama-server, persona serve) reproduces a run. `persona serve`
// also takes the run's steering vectors inline (`steering: [{vector: [...], layer, coeff,
// positions}]`) and its refusal ablation (`projections: [{vector: [...], intervention: "ablate",
// positions}]`, every block); it is recognised by `GET {base_url}/models` naming `owned_by: "persona"` and the
// same model fingerprint as the local weights, and only then are steered answers asked of it.
import Foundation
import PersonaCore
import PersonaHTTP

public enum OpenAIEngineError: Error, CustomStringConvertible, Equatable {
    case configuration(String)
    case missingAPIKey(variable: String)
    case unauthorized(url: String, status: Int, message: String)
    case notFound(url: String, message: String)

    public var description: String {
        switch self {
        case let .configuration(m): return "--engine openai: \(m)"
        case let .missingAPIKey(v): return "--engine openai: the environment variable \(v) (--api-key-env) is not set"
        case let .unauthorized(url, status, m): return "--engine openai: HTTP \(status) from \(url): the server refused the API key (check --api-key-env): \(m)"
        case let .notFound(url, m): return "--engine openai: HTTP 404 from \(url): check --base-url and --engine-model: \(m)"
        }
    }
}

public final class OpenAIEngine: AnswerEngine, @unchecked Sendable {
    public struct Configuration: Equatable, Sendable {
        /// e.g. `http://127.0.0.1:8000/v1` (requests go to `{baseURL}/chat/completions`).
        public var baseURL: String
        /// The model name the server knows (`--engine-model`).
        public var model: String
        /// Environment variable holding the API key (none: no Authorization header).
        public var apiKeyEnvironmentVariable: String?
        public var concurrency = 8
        public var policy = RetryPolicy(timeoutSeconds: 600)
        public init(baseURL: String, model: String, apiKeyEnvironmentVariable: String? = nil) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.model = model; self.apiKeyEnvironmentVariable = apiKeyEnvironmentVariable
        }
    }

    public let configuration: Configuration
    /// Read once from the environment at start (nil: no Authorization header).
    private let apiKey: String?
    private let transport: HTTPTransport
    private let poster: RetryingPoster
    public private(set) var steers = false

    /// Checks the URL and reads the API key from the environment. Without `transport`, an
    /// HTTPClient with at most `concurrency` requests in flight.
    public init(
        configuration: Configuration, environment: [String: String] = ProcessInfo.processInfo.environment,
        transport: HTTPTransport? = nil
    ) throws {
        guard let url = URL(string: configuration.baseURL), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil else {
            throw OpenAIEngineError.configuration("--base-url \"\(configuration.baseURL)\" is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
        }
        guard !configuration.model.isEmpty else { throw OpenAIEngineError.configuration("--engine-model is required (the model's name on the server)") }
        guard (1...256).contains(configuration.concurrency) else {
            throw OpenAIEngineError.configuration("--engine-concurrency \(configuration.concurrency): expected 1…256")
        }
        var apiKey: String? = nil
        if let variable = configuration.apiKeyEnvironmentVariable {
            guard let key = environment[variable], !key.isEmpty else { throw OpenAIEngineError.missingAPIKey(variable: variable) }
            apiKey = key
        }
        guard let endpoint = URL(string: configuration.baseURL + "/chat/completions") else {
            throw OpenAIEngineError.configuration("--base-url \"\(configuration.baseURL)\" does not make a URL")
        }
        self.configuration = configuration
        self.apiKey = apiKey
        let transport = transport ?? HTTPClient(limits: .init(maxRequestsInFlight: configuration.concurrency))
        self.transport = transport
        poster = RetryingPoster(endpoint: endpoint, apiKey: apiKey, policy: configuration.policy, transport: transport)
    }

    /// No secrets: neither the key nor its variable's name.
    public var identity: String { "openai base_url=\(configuration.baseURL) model=\(configuration.model)" }

    public var chunkSize: Int { max(configuration.concurrency * 4, 16) }

    /// Asks `GET {base_url}/models` whether the server is `persona serve` on the same weights
    /// (`fingerprint`); if so, steered answers are generated there. Any other reply (or none, within
    /// `timeout` seconds for the whole request) leaves steering local. One attempt, no retries.
    public func detectSteering(localFingerprint: String, timeout: Double = 10) {
        steers = false
        guard let url = URL(string: configuration.baseURL + "/models") else { return }
        var headers = ["Accept": "application/json"]
        if let apiKey { headers["Authorization"] = "Bearer " + apiKey }
        let request = HTTPRequest(method: "GET", url: url, headers: headers)
        let transport = self.transport
        let outcome = Blocking.run { await transport.send(request, deadline: timeout) }
        guard case let .success(reply) = outcome, reply.status == 200 else { return }
        let body = reply.body
        guard let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let data = o["data"] as? [[String: Any]] else { return }
        steers = data.contains { ($0["owned_by"] as? String) == "persona" && ($0["persona_fingerprint"] as? String) == localFingerprint }
    }

    public func generate(_ requests: [EngineRequest], progress: (Int) -> Void) throws -> [EngineAnswer] {
        do {
            return try BoundedBatch.run(count: requests.count, concurrency: configuration.concurrency, progress: progress) { [self] i in
                try await generateOne(requests[i])
            }
        } catch let failure as PostFailure {
            switch failure {
            case let .unauthorized(status, message): throw OpenAIEngineError.unauthorized(url: poster.endpoint.absoluteString, status: status, message: message)
            case let .notFound(url, message): throw OpenAIEngineError.notFound(url: url, message: message)
            case let .gaveUp(reason): throw OpenAIEngineError.configuration(reason)
            }
        }
    }

    /// The request body for one answer.
    func body(_ r: EngineRequest) throws -> Data {
        var body: [String: Any] = [
            "model": configuration.model,
            "messages": r.messages.map { ["role": $0.role, "content": $0.content] },
            "max_tokens": r.maxTokens,
            "temperature": r.temperature,
            "top_p": r.topP,
            // Servers take a signed 64-bit seed at most; keep it positive and below 2^53 for JSON.
            "seed": Int(r.seed & ((1 << 53) - 1)),
            "stream": false
        ]
        if let s = r.steering {
            body["steering"] = [["vector": s.vector.map { Double($0) }, "layer": s.layer, "coeff": Double(s.coefficient), "positions": s.positions.rawValue]]
        }
        if !r.projections.isEmpty {
            body["projections"] = r.projections.map { p -> [String: Any] in
                var entry: [String: Any] = ["vector": p.direction.map { Double($0) }, "positions": p.positions.rawValue]
                switch p.intervention {
                case .ablate: entry["intervention"] = "ablate"
                case let .cap(t): entry["intervention"] = "cap"; entry["threshold"] = Double(t)
                case let .floor(t): entry["intervention"] = "floor"; entry["threshold"] = Double(t)
                }
                if let layers = p.layers { entry["layers"] = layers }
                return entry
            }
        }
        return try JSONSerialization.data(withJSONObject: body)
    }

    /// One answer; throws (ending the batch) only on 401/403/404, which every request would meet.
    private func generateOne(_ r: EngineRequest) async throws -> EngineAnswer {
        var requests = 0
        let data: Data
        do { data = try body(r) } catch { return .failed("could not encode the request: \(error.localizedDescription)") }
        do {
            return Self.parse(try await poster.post(data, requests: &requests).body)
        } catch let PostFailure.gaveUp(reason) {
            return .failed(reason)
        }
    }

    /// The answer of a chat-completions reply, its `finish_reason` mapped to the store's stop reasons.
    static func parse(_ body: Data) -> EngineAnswer {
        switch ChatCompletionReply.parse(body) {
        case .failure(.gaveUp(let reason)): return .failed(reason)
        case .failure(let other): return .failed("\(other)")
        case .success(let reply):
            let stop: String
            switch reply.finishReason {
            case "length": stop = "max_tokens"
            case "stop", "eos", nil: stop = "end_token"
            case let other?: stop = other
            }
            return EngineAnswer(text: reply.content, stopReason: stop)
        }
    }
}
