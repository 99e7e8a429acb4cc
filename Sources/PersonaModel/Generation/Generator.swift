// Batched generation over a fixed list of requests: the requests and results of the generation
// loop, and `Generator`, which admits the requests in order into a `GenerationBatch` (as many at
// once as `maxBatchSize` allows; a finished sequence's place goes to the next request) and steps
// it until every request has its result. A prefix shared by many prompts (system prompt, judge
// template) is computed once.

/// Why a sequence stopped.
public enum StopReason: String, Sendable, Codable {
    case endToken = "end_token"
    case stopString = "stop_string"
    case maxTokens = "max_tokens"
    case contextFull = "context_full"
}

/// One sequence to generate.
public struct GenerationRequest {
    public var promptTokens: [Int]
    public var maxNewTokens: Int
    public var sampling: SamplingParameters
    /// Token ids that end the sequence (EOS, end-of-turn); the end token is reported but is not text.
    public var stopTokens: Set<Int>
    /// Texts that end the sequence; the text is cut before the stop string.
    public var stopStrings: [String]
    /// A cache holding the first `prefix.count` tokens of `promptTokens`, reused (copied), not recomputed.
    public var prefix: KVCache?

    public init(
        promptTokens: [Int], maxNewTokens: Int, sampling: SamplingParameters = .greedy,
        stopTokens: Set<Int> = [], stopStrings: [String] = [], prefix: KVCache? = nil
    ) {
        self.promptTokens = promptTokens; self.maxNewTokens = maxNewTokens; self.sampling = sampling
        self.stopTokens = stopTokens; self.stopStrings = stopStrings; self.prefix = prefix
    }
}

/// What one sequence produced.
public struct GenerationResult: Sendable, Equatable {
    public let promptTokens: [Int]
    /// Generated tokens, including the end token when the sequence stopped on one.
    public let tokens: [Int]
    /// The generated tokens that count as the response: without the end token.
    public var responseTokens: [Int] { stopReason == .endToken ? Array(tokens.dropLast()) : tokens }
    public let stopReason: StopReason
    /// The decoded text (cut before a stop string), when a decoder was given.
    public let text: String?
}

/// Generation errors.
public enum GenerationError: Error, CustomStringConvertible, Equatable {
    case emptyPrompt(request: Int)
    case badPrefix(request: Int, reason: String)
    case badParameter(request: Int, field: String, value: String)

    public var description: String {
        switch self {
        case let .emptyPrompt(r): return "request \(r): the prompt has no tokens"
        case let .badPrefix(r, reason): return "request \(r): bad shared prefix: \(reason)"
        case let .badParameter(r, field, value): return "request \(r): \(field) = \(value) is invalid"
        }
    }
}

/// Runs batched generation on a model.
public final class Generator {
    public let model: Transformer
    /// Turns generated token ids into text (needed for stop strings and `GenerationResult.text`).
    public let decode: (([Int]) -> String)?
    /// The most sequences decoded together.
    public var maxBatchSize: Int
    /// Feed the last response token through the model after a sequence stops without an end token,
    /// so that hooks (activation capture) see every response token.
    public var feedFinalToken: Bool = false

    public init(model: Transformer, decode: (([Int]) -> String)? = nil, maxBatchSize: Int = 32) {
        self.model = model
        self.decode = decode
        self.maxBatchSize = max(maxBatchSize, 1)
    }

    /// Computes the cache of a shared prefix once, to pass as `GenerationRequest.prefix`.
    public func prefill(_ tokens: [Int]) throws -> KVCache {
        let cache = model.makeCache(capacity: tokens.count + 1)
        _ = try model.forward([SequenceInput(tokens: tokens, cache: cache, id: -1)], logits: .none)
        return cache
    }

    /// Generates for every request; one result per request, in request order. `onToken(request,
    /// token)` is called for every generated token as soon as it is chosen (streaming). Sequence
    /// ids (what hooks see as `SequenceSpan.id`) are the requests' indices.
    public func generate(_ requests: [GenerationRequest], onToken: ((Int, Int) -> Void)? = nil) throws -> [GenerationResult] {
        let batch = GenerationBatch(model: model, decode: decode, feedFinalToken: feedFinalToken)
        var results = [GenerationResult?](repeating: nil, count: requests.count)
        var next = 0
        while next < requests.count || !batch.isEmpty {
            // Admit waiting requests, in order, while there is room.
            while batch.count < maxBatchSize, next < requests.count {
                results[next] = try batch.admit(requests[next], id: next)
                next += 1
            }
            for event in try batch.step() {
                switch event {
                case .token(let t): onToken?(t.id, t.token)
                case let .finished(id, result): results[id] = result
                }
            }
        }
        // Every request was admitted and the batch ran until empty: each has its result.
        return results.map { $0! }
    }
}
