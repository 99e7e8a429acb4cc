// The body of `POST /v1/chat/completions`, read field by field from untrusted JSON: OpenAI's
// chat-completions request (messages, max_tokens / max_completion_tokens, temperature, top_p, seed,
// stop, n, logprobs, top_logprobs, stream, stream_options) plus vLLM's `top_k`,
// `add_generation_prompt` and `continue_final_message`, and Persona's `steering` extension. Every
// problem becomes an `APIError` naming the parameter and the bad value.
import Foundation
import PersonaCore
import PersonaModel

/// An OpenAI-style error: HTTP status plus `{"error": {"message", "type", "param", "code"}}`.
public struct APIError: Error, CustomStringConvertible, Equatable, Sendable {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?

    public init(status: Int, message: String, type: String = "invalid_request_error", param: String? = nil, code: String? = nil) {
        self.status = status; self.message = message; self.type = type; self.param = param; self.code = code
    }

    public var description: String { "\(status) \(type): \(message)" }

    static func invalid(_ param: String, _ message: String) -> APIError {
        APIError(status: 400, message: message, param: param, code: "invalid_value")
    }

    /// The JSON body.
    public var body: Data {
        struct Envelope: Encodable { let error: Inner }
        struct Inner: Encodable {
            let message: String; let type: String; let param: String?; let code: String?
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(message, forKey: .message); try c.encode(type, forKey: .type)
                try c.encode(param, forKey: .param); try c.encode(code, forKey: .code)  // explicit nulls
            }
            enum CodingKeys: String, CodingKey { case message, type, param, code }
        }
        return (try? JSONEncoder().encode(Envelope(error: Inner(message: message, type: type, param: param, code: code)))) ?? Data("{}".utf8)
    }
}

/// One `steering` entry of a request.
public struct SteeringRequest: Equatable, Sendable {
    /// A vector the server knows by name; empty when `values` carries the vector itself.
    public var vector: String
    /// The vector's values at `layer`, sent inline (how `persona run --engine openai` steers).
    public var values: [Float]? = nil
    public var layer: Int
    public var coefficient: Float
    public var positions: SteeringPositions
}

/// One `projections` entry of a request: a projection intervention on a direction (Persona's
/// extension, beside `steering`; `persona generate --ablate/--cap` per request).
public struct ProjectionRequest: Equatable, Sendable {
    /// A vector the server knows by name (row L at block L, or row `directionLayer` at every
    /// block); empty when `values` carries one direction, used at every chosen block.
    public var vector: String
    public var values: [Float]? = nil
    public var intervention: ProjectionIntervention
    /// Blocks to intervene at; nil = every block.
    public var layers: [Int]?
    public var directionLayer: Int?
    public var positions: SteeringPositions
}

/// A validated chat-completions request.
public struct ChatCompletionRequest: Equatable, Sendable {
    public var model: String?
    public var messages: [ChatMessage]
    public var maxTokens: Int?
    public var temperature: Double
    public var topP: Double
    public var topK: Int
    public var seed: UInt64?
    public var stop: [String]
    public var logprobs: Bool
    public var topLogprobs: Int
    public var stream: Bool
    public var includeUsageInStream: Bool
    /// Continue the final assistant message instead of starting a new turn.
    public var continueFinalMessage: Bool
    public var steering: [SteeringRequest]
    public var projections: [ProjectionRequest] = []

    /// Limits on what a request may ask for.
    public struct Limits: Sendable {
        public var maxTokens: Int
        public var maxMessages = 1024
        public var maxStopStrings = 16
        public var maxSteering = 16
        /// Values of one inline steering vector (a hidden size; 65536 covers every model we meet).
        public var maxInlineVector = 65536
        public init(maxTokens: Int) { self.maxTokens = maxTokens }
    }

    /// Parses and validates a request body.
    public static func parse(_ data: Data, limits: Limits) throws -> ChatCompletionRequest {
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch {
            throw APIError(status: 400, message: "the body is not valid JSON: \(error.localizedDescription)", code: "invalid_json")
        }
        guard let o = root.object else { throw APIError(status: 400, message: "the body must be a JSON object, got \(root.summary)", code: "invalid_json") }
        func field(_ name: String) -> JSONValue? { o[name].flatMap { $0.isNull ? nil : $0 } }

        var model: String? = nil
        if let v = field("model") {
            guard let s = v.string else { throw APIError.invalid("model", "model must be a string, got \(v.summary)") }
            model = s
        }

        // messages
        guard let mv = field("messages") else {
            throw APIError(status: 400, message: "messages is required", param: "messages", code: "missing_required_parameter")
        }
        guard let list = mv.array, !list.isEmpty else { throw APIError.invalid("messages", "messages must be a non-empty array, got \(mv.summary)") }
        guard list.count <= limits.maxMessages else { throw APIError.invalid("messages", "at most \(limits.maxMessages) messages, got \(list.count)") }
        var messages: [ChatMessage] = []
        for (i, m) in list.enumerated() {
            let p = "messages[\(i)]"
            guard let mo = m.object else { throw APIError.invalid(p, "\(p) must be an object, got \(m.summary)") }
            guard let role = mo["role"]?.string else { throw APIError.invalid("\(p).role", "\(p).role must be a string") }
            guard ["system", "developer", "user", "assistant"].contains(role) else {
                throw APIError.invalid("\(p).role", "\(p).role \"\(role.prefix(40))\" is not supported (system, developer, user, assistant)")
            }
            // As in the OpenAI API, only an assistant message may leave its content out or null it.
            guard role == "assistant" || mo["content"].map({ !$0.isNull }) == true else {
                throw APIError(
                    status: 400, message: "\(p).content is required for a \(role) message", param: "\(p).content",
                    code: "missing_required_parameter")
            }
            messages.append(ChatMessage(role: role == "developer" ? "system" : role, content: try content(mo["content"], param: "\(p).content")))
        }

        // lengths and sampling
        var maxTokens: Int? = nil
        for name in ["max_completion_tokens", "max_tokens"] {
            guard let v = field(name) else { continue }
            guard let n = v.int else { throw APIError.invalid(name, "\(name) must be an integer, got \(v.summary)") }
            guard n >= 1 else { throw APIError.invalid(name, "\(name) must be at least 1, got \(n)") }
            guard n <= limits.maxTokens else { throw APIError.invalid(name, "\(name) = \(n) is above this server's limit of \(limits.maxTokens)") }
            maxTokens = n
            break
        }
        let temperature = try number(field("temperature"), "temperature", default: 1, range: 0...2)
        let topP = try number(field("top_p"), "top_p", default: 1, range: 0...1)
        guard topP > 0 else { throw APIError.invalid("top_p", "top_p must be greater than 0") }
        var topK = 0
        if let v = field("top_k") {
            guard let k = v.int, k >= -1 else { throw APIError.invalid("top_k", "top_k must be an integer ≥ -1 (-1 or 0: off), got \(v.summary)") }
            topK = max(k, 0)
        }
        var seed: UInt64? = nil
        if let v = field("seed") {
            guard case .int(let s) = v else { throw APIError.invalid("seed", "seed must be an integer, got \(v.summary)") }
            seed = UInt64(bitPattern: s)
        }
        if let v = field("n") {
            guard let n = v.int else { throw APIError.invalid("n", "n must be an integer, got \(v.summary)") }
            guard n == 1 else { throw APIError.invalid("n", "only n = 1 is supported, got \(n)") }
        }
        for name in ["frequency_penalty", "presence_penalty"] {
            if let v = field(name) {
                guard let x = v.double, x == 0 else { throw APIError.invalid(name, "\(name) is not supported (only 0), got \(v.summary)") }
            }
        }

        // stop
        var stop: [String] = []
        if let v = field("stop") {
            if let s = v.string {
                stop = [s]
            } else if let a = v.array {
                stop = try a.enumerated().map { i, e in
                    guard let s = e.string else { throw APIError.invalid("stop", "stop[\(i)] must be a string, got \(e.summary)") }
                    return s
                }
            } else {
                throw APIError.invalid("stop", "stop must be a string or an array of strings, got \(v.summary)")
            }
            guard stop.count <= limits.maxStopStrings else {
                throw APIError.invalid("stop", "at most \(limits.maxStopStrings) stop strings, got \(stop.count)")
            }
            stop.removeAll { $0.isEmpty }
        }

        // logprobs
        let logprobs = try flag(field("logprobs"), "logprobs")
        var topLogprobs = 0
        if let v = field("top_logprobs") {
            guard let k = v.int, (0...20).contains(k) else {
                throw APIError.invalid("top_logprobs", "top_logprobs must be an integer from 0 to 20, got \(v.summary)")
            }
            guard logprobs else { throw APIError.invalid("top_logprobs", "top_logprobs needs logprobs: true") }
            topLogprobs = k
        }

        // streaming
        let stream = try flag(field("stream"), "stream")
        var includeUsage = false
        if let v = field("stream_options") {
            guard let so = v.object else { throw APIError.invalid("stream_options", "stream_options must be an object") }
            includeUsage = try flag(so["include_usage"].flatMap { $0.isNull ? nil : $0 }, "stream_options.include_usage")
        }

        // continuing the final assistant message
        let lastIsAssistant = messages.last?.role == "assistant"
        let addGenerationPrompt = try field("add_generation_prompt").map { try flag($0, "add_generation_prompt") }
        let continueFlag = try field("continue_final_message").map { try flag($0, "continue_final_message") }
        let continueFinal: Bool
        if continueFlag == true {
            guard lastIsAssistant else {
                throw APIError.invalid("continue_final_message", "continue_final_message needs the last message to be from the assistant")
            }
            guard addGenerationPrompt != true else {
                throw APIError.invalid("continue_final_message", "continue_final_message and add_generation_prompt cannot both be true")
            }
            continueFinal = true
        } else if continueFlag == false {
            continueFinal = false
        } else {
            continueFinal = lastIsAssistant && addGenerationPrompt != true
        }

        // steering
        var steering: [SteeringRequest] = []
        if let v = field("steering") {
            guard let a = v.array else { throw APIError.invalid("steering", "steering must be an array of {vector, layer, coeff, positions}") }
            guard a.count <= limits.maxSteering else { throw APIError.invalid("steering", "at most \(limits.maxSteering) steering entries, got \(a.count)") }
            for (i, e) in a.enumerated() {
                let p = "steering[\(i)]"
                guard let so = e.object else { throw APIError.invalid(p, "\(p) must be an object") }
                let (name, values) = try vectorField(so, p, limits: limits)
                guard let layer = so["layer"]?.int else { throw APIError.invalid("\(p).layer", "\(p).layer must be an integer block index") }
                guard let coeff = (so["coeff"] ?? so["coefficient"])?.double, coeff.isFinite, abs(coeff) <= 1e6 else {
                    throw APIError.invalid("\(p).coeff", "\(p).coeff must be a finite number")
                }
                let positions = try positionsField(so, p, default: .response)
                steering.append(SteeringRequest(vector: name, values: values, layer: layer, coefficient: Float(coeff), positions: positions))
            }
        }

        // projections
        var projections: [ProjectionRequest] = []
        if let v = field("projections") {
            let shape = "projections must be an array of {vector, intervention (ablate, cap or floor), threshold, layers, direction_layer, positions}"
            guard let a = v.array else { throw APIError.invalid("projections", shape) }
            guard a.count <= limits.maxSteering else {
                throw APIError.invalid("projections", "at most \(limits.maxSteering) projection entries, got \(a.count)")
            }
            for (i, e) in a.enumerated() {
                let p = "projections[\(i)]"
                guard let po = e.object else { throw APIError.invalid(p, "\(p) must be an object") }
                let (name, values) = try vectorField(po, p, limits: limits)
                let kind = po["intervention"]?.string ?? "ablate"
                let threshold = po["threshold"].flatMap { $0.isNull ? nil : $0 }
                let intervention: ProjectionIntervention
                switch kind {
                case "ablate":
                    guard threshold == nil else { throw APIError.invalid("\(p).threshold", "\(p).threshold is for cap and floor, not ablate") }
                    intervention = .ablate
                case "cap", "floor":
                    guard let t = threshold?.double, t.isFinite, abs(t) <= 1e6 else {
                        throw APIError.invalid("\(p).threshold", "\(p).threshold must be a finite number for \(kind), got \(threshold?.summary ?? "nothing")")
                    }
                    intervention = kind == "cap" ? .cap(threshold: Float(t)) : .floor(threshold: Float(t))
                default:
                    throw APIError.invalid("\(p).intervention", "\(p).intervention must be ablate, cap or floor, got \(po["intervention"]?.summary ?? "")")
                }
                var layers: [Int]? = nil
                if let lv = po["layers"], !lv.isNull {
                    guard let list = lv.array, !list.isEmpty, list.count <= 4096 else {
                        throw APIError.invalid("\(p).layers", "\(p).layers must be a non-empty array of block indices")
                    }
                    layers = try list.enumerated().map { j, x in
                        guard let l = x.int else { throw APIError.invalid("\(p).layers", "\(p).layers[\(j)] must be an integer block index, got \(x.summary)") }
                        return l
                    }
                }
                var directionLayer: Int? = nil
                if let dv = po["direction_layer"], !dv.isNull {
                    guard let d = dv.int else { throw APIError.invalid("\(p).direction_layer", "\(p).direction_layer must be an integer row index") }
                    directionLayer = d
                }
                let positions = try positionsField(po, p, default: .all)
                projections.append(
                    ProjectionRequest(
                        vector: name, values: values, intervention: intervention, layers: layers,
                        directionLayer: directionLayer, positions: positions))
            }
        }

        return ChatCompletionRequest(
            model: model, messages: messages, maxTokens: maxTokens, temperature: temperature, topP: topP, topK: topK,
            seed: seed, stop: stop, logprobs: logprobs, topLogprobs: topLogprobs, stream: stream,
            includeUsageInStream: includeUsage, continueFinalMessage: continueFinal, steering: steering,
            projections: projections)
    }

    /// `vector`: a name the server knows, or an inline array of finite numbers.
    private static func vectorField(_ o: [String: JSONValue], _ p: String, limits: Limits) throws -> (String, [Float]?) {
        if let inline = o["vector"]?.array {
            guard inline.count <= limits.maxInlineVector else {
                throw APIError.invalid("\(p).vector", "\(p).vector has \(inline.count) values, at most \(limits.maxInlineVector) are accepted")
            }
            var v: [Float] = []
            v.reserveCapacity(inline.count)
            for (j, x) in inline.enumerated() {
                guard let d = x.double, d.isFinite, abs(d) <= 1e6 else {
                    throw APIError.invalid("\(p).vector", "\(p).vector[\(j)] must be a finite number, got \(x.summary)")
                }
                v.append(Float(d))
            }
            return ("", v)
        }
        if let n = o["vector"]?.string { return (n, nil) }
        throw APIError.invalid("\(p).vector", "\(p).vector must be a vector name or an array of numbers")
    }

    private static func positionsField(_ o: [String: JSONValue], _ p: String, default mode: SteeringPositions) throws -> SteeringPositions {
        guard let pv = o["positions"], !pv.isNull else { return mode }
        guard let ps = pv.string, let parsed = SteeringPositions(rawValue: ps) else {
            throw APIError.invalid("\(p).positions", "\(p).positions must be all, prompt or response, got \(pv.summary)")
        }
        return parsed
    }

    /// A message's content: a string, an array of `{type: "text", text}` parts, or (assistant only) null or absent: empty.
    private static func content(_ v: JSONValue?, param: String) throws -> String {
        guard let v, !v.isNull else { return "" }
        if let s = v.string { return s }
        if let parts = v.array {
            return try parts.enumerated().map { i, part in
                guard let po = part.object, po["type"]?.string == "text", let text = po["text"]?.string else {
                    throw APIError.invalid("\(param)[\(i)]", "\(param)[\(i)]: only {\"type\": \"text\", \"text\": …} parts are supported")
                }
                return text
            }.joined()
        }
        throw APIError.invalid(param, "\(param) must be a string or an array of text parts, got \(v.summary)")
    }

    private static func number(_ v: JSONValue?, _ name: String, default value: Double, range: ClosedRange<Double>) throws -> Double {
        guard let v else { return value }
        guard let x = v.double, x.isFinite else { throw APIError.invalid(name, "\(name) must be a number, got \(v.summary)") }
        guard range.contains(x) else { throw APIError.invalid(name, "\(name) must be between \(range.lowerBound) and \(range.upperBound), got \(x)") }
        return x
    }

    private static func flag(_ v: JSONValue?, _ name: String) throws -> Bool {
        guard let v else { return false }
        guard let b = v.bool else { throw APIError.invalid(name, "\(name) must be true or false, got \(v.summary)") }
        return b
    }
}
