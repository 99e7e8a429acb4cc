// The chat-completions endpoint without HTTP: turns a validated request into an engine job (chat
// template, steering vectors, limits) and engine events into OpenAI's response shapes
// (`chat.completion`, `chat.completion.chunk`). `PersonaServer` binds it to Hummingbird; tests
// can call it directly.
import Foundation
import PersonaCore
import PersonaModel

/// Server-wide settings.
public struct ServeConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The model id reported by `/v1/models` and accepted in requests' `model` (any when nil).
    public var modelName: String? = nil
    public var maxBodyBytes = 1 << 20
    /// The most tokens a request may ask for.
    public var maxTokensLimit = 4096
    /// Tokens generated when a request gives no max_tokens (also bounded by the context).
    public var defaultMaxTokens = 512
    /// Sequences decoded together.
    public var maxBatchSize = 16
    /// Requests that may wait for a batch slot; beyond, 429.
    public var maxQueued = 64
    /// Called with one line per request (nil: no log).
    public var log: (@Sendable (String) -> Void)? = nil

    public init() {}
}

/// A request ready for the engine.
public struct PreparedCompletion: Sendable {
    public var request: ChatCompletionRequest
    public var job: EngineJob
    public var modelName: String
}

public final class ChatCompletionService: @unchecked Sendable {
    public let engine: InferenceEngine
    public let vectors: any SteeringVectorSource
    public let configuration: ServeConfiguration
    public let modelName: String

    public init(engine: InferenceEngine, vectors: any SteeringVectorSource, configuration: ServeConfiguration) {
        self.engine = engine
        self.vectors = vectors
        self.configuration = configuration
        self.modelName = configuration.modelName ?? engine.model.displayName
    }

    private var model: LanguageModel { engine.model }

    // Admission: requests being prepared (template + tokenizer, the costly part of a request before
    // the engine sees it) count against the same limit as the engine's queue, so a flood of large
    // prompts is refused with 429 before it is tokenized instead of after.
    private let admissionLock = NSLock()
    private var preparing = 0

    /// Takes a preparation slot, or throws 429 when the engine's queue plus the requests being
    /// prepared already reach --max-queued (+ the free batch slots, as the engine counts).
    private func admit() throws {
        let load = engine.load
        admissionLock.lock(); defer { admissionLock.unlock() }
        guard preparing + load.waiting < engine.maxQueued + max(0, engine.maxBatchSize - load.active) else {
            throw APIError(
                status: 429, message: "the server is busy (\(engine.maxQueued) requests waiting); retry later", type: "rate_limit_error",
                code: "rate_limit_exceeded")
        }
        preparing += 1
    }

    private func release() { admissionLock.lock(); preparing -= 1; admissionLock.unlock() }

    /// Parses and checks a body, renders the prompt, resolves steering. The template and the
    /// tokenizer run only once the request is admitted.
    public func prepare(_ body: Data) throws -> PreparedCompletion {
        let request = try ChatCompletionRequest.parse(body, limits: .init(maxTokens: configuration.maxTokensLimit))
        if let name = request.model, configuration.modelName != nil, name != modelName {
            throw APIError(
                status: 404, message: "the model \"\(name.prefix(100))\" does not exist; this server serves \"\(modelName)\"", param: "model",
                code: "model_not_found")
        }
        try admit()
        defer { release() }
        let prompt = try promptTokens(request)
        let context = model.config.contextLength
        guard prompt.count < context else {
            throw APIError(
                status: 400, message: "the prompt has \(prompt.count) tokens; the model's context is \(context) tokens", param: "messages",
                code: "context_length_exceeded")
        }
        let room = context - prompt.count
        let maxTokens = min(request.maxTokens ?? configuration.defaultMaxTokens, room)

        var specs: [SteeringSpec] = []
        for (i, s) in request.steering.enumerated() {
            let param = "steering[\(i)]"
            guard (0..<model.config.layerCount).contains(s.layer) else {
                throw APIError.invalid("\(param).layer", "\(param).layer \(s.layer) is out of range: the model has blocks 0…\(model.config.layerCount - 1)")
            }
            let values = try requestVector(name: s.vector, values: s.values, row: s.layer, param: param)
            specs.append(SteeringSpec(vector: values, layer: s.layer, coefficient: s.coefficient, positions: s.positions))
        }
        do { try SteeringHook.validate(specs, config: model.config) } catch {
            throw APIError.invalid("steering", "\(error)")
        }
        let projections = try projectionHooks(request.projections)

        let seed = request.seed ?? UInt64.random(in: 0...UInt64.max)
        let job = EngineJob(
            promptTokens: prompt, maxNewTokens: maxTokens,
            sampling: SamplingParameters(temperature: request.temperature, topP: request.topP, topK: request.topK, seed: seed),
            stopTokens: model.stopTokens, stopStrings: request.stop, steering: specs, projections: projections,
            logProbabilities: request.logprobs, topLogProbabilities: request.topLogprobs)
        return PreparedCompletion(request: request, job: job, modelName: modelName)
    }

    /// A request's vector (`steering[i]`, `projections[i]`: `param`): its inline values, checked
    /// against the hidden size, or row `row` of the vector the server knows by `name`.
    func requestVector(name: String, values: [Float]?, row: Int, param: String) throws -> [Float] {
        if let inline = values {
            guard inline.count == model.config.hiddenSize else {
                throw APIError.invalid("\(param).vector", "\(param).vector has \(inline.count) values; this model's hidden size is \(model.config.hiddenSize)")
            }
            return inline
        }
        let found: [Float]?
        do { found = try vectors.vector(named: name, layer: row) } catch {
            throw APIError.invalid("\(param).vector", "\(param): \(error)")
        }
        guard let found else {
            let known = vectors.vectorNames
            throw APIError(
                status: 400,
                message:
                    "unknown vector \"\(name.prefix(100))\"; this server knows \(known.isEmpty ? "no vectors (start it with --vector NAME=FILE)" : known.joined(separator: ", "))",
                param: "\(param).vector", code: "unknown_vector")
        }
        return found
    }

    /// One hook per (entry, chosen block) of a request's `projections`: an inline direction at every
    /// chosen block; a named vector's row L at block L, or its row `direction_layer` at every one.
    func projectionHooks(_ requests: [ProjectionRequest]) throws -> [ProjectionHook] {
        let config = model.config
        var hooks: [ProjectionHook] = []
        for (i, r) in requests.enumerated() {
            let param = "projections[\(i)]"
            let layers = r.layers ?? Array(0..<config.layerCount)
            for l in layers where !(0..<config.layerCount).contains(l) {
                throw APIError.invalid("\(param).layers", "\(param).layers: block \(l) is out of range: the model has blocks 0…\(config.layerCount - 1)")
            }
            if let d = r.directionLayer, r.values != nil || !(0..<config.layerCount).contains(d) {
                throw APIError.invalid(
                    "\(param).direction_layer",
                    r.values != nil
                        ? "\(param).direction_layer names a row of a named vector; an inline vector is one direction"
                        : "\(param).direction_layer \(d) is out of range: the model has blocks 0…\(config.layerCount - 1)")
            }
            for l in layers {
                let direction = try requestVector(name: r.vector, values: r.values, row: r.directionLayer ?? l, param: param)
                do {
                    hooks.append(try ProjectionHook(direction: direction, layer: l, intervention: r.intervention, positions: r.positions, config: config))
                } catch {
                    throw APIError.invalid("\(param).vector", "\(param): \(error)")
                }
            }
        }
        return hooks
    }

    /// The prompt ids: the chat template with a generation prompt, or, when continuing the final
    /// assistant message, the conversation rendered up to the end of that message's text (the
    /// template's end-of-turn after it is cut, as vLLM's `continue_final_message` does).
    public func promptTokens(_ request: ChatCompletionRequest) throws -> [Int] {
        do {
            return try Self.promptTokens(messages: request.messages, continueFinalMessage: request.continueFinalMessage, model: model)
        } catch let e as APIError {
            throw e
        } catch {
            throw APIError(status: 400, message: "the chat template failed on these messages: \(error)", param: "messages", code: "template_error")
        }
    }

    public static func promptTokens(messages: [ChatMessage], continueFinalMessage: Bool, model: LanguageModel) throws -> [Int] {
        /// Tokenizes, unless the text is so long that even its fewest possible tokens (one per
        /// longest token's bytes) overflow the context: refused in O(n) instead of tokenized.
        func encode(_ text: String) throws -> [Int] {
            let fewest = text.utf8.count / model.tokenizer.maximumTokenBytes
            let context = model.config.contextLength
            guard fewest < context else {
                throw APIError(
                    status: 400, message: "the prompt has at least \(fewest) tokens (\(text.utf8.count) bytes); the model's context is \(context) tokens",
                    param: "messages", code: "context_length_exceeded")
            }
            return model.tokenizer.encode(text)
        }
        guard continueFinalMessage, let last = messages.last, last.role == "assistant" else {
            return try encode(try model.renderChat(messages, addGenerationPrompt: true))
        }
        if last.content.isEmpty {
            return try encode(try model.renderChat(Array(messages.dropLast()), addGenerationPrompt: true))
        }
        let text = try model.renderChat(messages, addGenerationPrompt: false)
        guard let range = text.range(of: last.content, options: .backwards) else {
            throw APIError.invalid("messages", "cannot continue the final assistant message: the chat template does not reproduce its text")
        }
        return try encode(String(text[..<range.upperBound]))
    }

    // MARK: Responses

    public func tokenText(_ id: Int) -> (text: String, bytes: [UInt8]) {
        let bytes = model.tokenizer.tokenBytes(id) ?? []
        return (String(decoding: bytes, as: UTF8.self), bytes)
    }

    func logprobEntry(_ t: EngineToken) -> ChatCompletionResponse.LogprobEntry {
        let (text, bytes) = tokenText(t.token)
        return .init(
            token: text, logprob: Self.wire(t.logProbability ?? -.infinity), bytes: bytes,
            top_logprobs: t.top.map { alt in
                let (at, ab) = tokenText(alt.token)
                return .init(token: at, logprob: Self.wire(alt.logProbability), bytes: ab)
            })
    }

    /// JSON has no infinities: -inf (and NaN) become -9999, as vLLM writes them.
    static func wire(_ lp: Float) -> Float { lp.isNaN ? -9999 : max(lp, -9999) }

    public static func finishReason(_ reason: StopReason) -> String {
        switch reason {
        case .endToken, .stopString: return "stop"
        case .maxTokens, .contextFull: return "length"
        }
    }

    /// The whole response for a non-streaming request.
    public func response(id: String, created: Int, prepared: PreparedCompletion, tokens: [EngineToken], finish: EngineFinish) -> ChatCompletionResponse {
        let logprobs = prepared.request.logprobs ? ChatCompletionResponse.Logprobs(content: tokens.map(logprobEntry)) : nil
        return ChatCompletionResponse(
            id: id, object: "chat.completion", created: created, model: prepared.modelName,
            choices: [
                .init(
                    index: 0, message: .init(role: "assistant", content: finish.text), logprobs: logprobs,
                    finish_reason: Self.finishReason(finish.stopReason))
            ],
            usage: .init(
                prompt_tokens: finish.promptTokenCount, completion_tokens: finish.tokens.count,
                total_tokens: finish.promptTokenCount + finish.tokens.count))
    }

    /// A streaming chunk.
    public func chunk(
        id: String, created: Int, prepared: PreparedCompletion, role: String? = nil, content: String?,
        token: EngineToken? = nil, finishReason: String? = nil
    ) -> ChatCompletionChunk {
        let logprobs = prepared.request.logprobs ? token.map { ChatCompletionResponse.Logprobs(content: [logprobEntry($0)]) } : nil
        return ChatCompletionChunk(
            id: id, object: "chat.completion.chunk", created: created, model: prepared.modelName,
            choices: [.init(index: 0, delta: .init(role: role, content: content), logprobs: logprobs, finish_reason: finishReason)],
            usage: nil)
    }

    /// The `GET /v1/models` body.
    public func modelsResponse(created: Int) -> ModelList {
        ModelList(
            object: "list",
            data: [
                .init(
                    id: modelName, object: "model", created: created, owned_by: "persona",
                    max_model_len: model.config.contextLength, steering_vectors: vectors.vectorNames,
                    persona_fingerprint: model.fingerprint)
            ])
    }
}

// MARK: Wire types (OpenAI's field names)

public struct ChatCompletionResponse: Codable, Sendable {
    public var id: String
    public var object: String
    public var created: Int
    public var model: String
    public var choices: [Choice]
    public var usage: Usage

    public struct Choice: Codable, Sendable {
        public var index: Int
        public var message: Message
        public var logprobs: Logprobs?
        public var finish_reason: String
        // `logprobs: null` is written explicitly, as OpenAI does.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index); try c.encode(message, forKey: .message)
            try c.encode(logprobs, forKey: .logprobs); try c.encode(finish_reason, forKey: .finish_reason)
        }
    }
    public struct Message: Codable, Sendable { public var role: String; public var content: String }
    public struct Logprobs: Codable, Sendable { public var content: [LogprobEntry] }
    public struct LogprobEntry: Codable, Sendable {
        public var token: String
        public var logprob: Float
        public var bytes: [UInt8]
        public var top_logprobs: [TopLogprob]
    }
    public struct TopLogprob: Codable, Sendable {
        public var token: String
        public var logprob: Float
        public var bytes: [UInt8]
    }
    public struct Usage: Codable, Sendable {
        public var prompt_tokens: Int
        public var completion_tokens: Int
        public var total_tokens: Int
    }
}

public struct ChatCompletionChunk: Codable, Sendable {
    public var id: String
    public var object: String
    public var created: Int
    public var model: String
    public var choices: [Choice]
    public var usage: ChatCompletionResponse.Usage?

    public struct Choice: Codable, Sendable {
        public var index: Int
        public var delta: Delta
        public var logprobs: ChatCompletionResponse.Logprobs?
        public var finish_reason: String?
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index); try c.encode(delta, forKey: .delta)
            try c.encode(logprobs, forKey: .logprobs); try c.encode(finish_reason, forKey: .finish_reason)
        }
    }
    public struct Delta: Codable, Sendable { public var role: String?; public var content: String? }
}

public struct ModelList: Codable, Sendable {
    public var object: String
    public var data: [Entry]
    public struct Entry: Codable, Sendable {
        public var id: String
        public var object: String
        public var created: Int
        public var owned_by: String
        public var max_model_len: Int
        /// Persona: the vector names requests may use in `steering`.
        public var steering_vectors: [String]
        /// Persona: the served weights' fingerprint (a client with the same weights may send its
        /// own vectors inline in `steering`).
        public var persona_fingerprint: String?
    }
}
