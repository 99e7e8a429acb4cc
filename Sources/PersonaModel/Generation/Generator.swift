// Batched generation with KV caches. Sequences of different lengths are decoded together as a
// ragged batch (no padding), each with its own stop condition and sampler; a finished sequence
// leaves the batch and a waiting one joins it (its prefill shares the pass with the others' decode
// steps). A prefix shared by many prompts (system prompt, judge template) is computed once.

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

    public init(promptTokens: [Int], maxNewTokens: Int, sampling: SamplingParameters = .greedy,
                stopTokens: Set<Int> = [], stopStrings: [String] = [], prefix: KVCache? = nil) {
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

    private final class Active {
        let index: Int
        let request: GenerationRequest
        let cache: KVCache
        var sampler: Sampler
        var pending: [Int]       // tokens to feed in the next pass
        var generated: [Int] = []
        var text: String? = nil
        var stop: StopReason? = nil
        init(index: Int, request: GenerationRequest, cache: KVCache, pending: [Int]) {
            self.index = index; self.request = request; self.cache = cache
            self.sampler = Sampler(request.sampling); self.pending = pending
        }
    }

    /// Generates for every request; results in request order. `onToken(request, token)` is called
    /// for every generated token as soon as it is chosen (streaming).
    public func generate(_ requests: [GenerationRequest], onToken: ((Int, Int) -> Void)? = nil) throws -> [GenerationResult?] {
        var results = [GenerationResult?](repeating: nil, count: requests.count)
        var waiting = Array(requests.indices.reversed())
        var active: [Active] = []
        let contextLength = model.config.contextLength

        while !waiting.isEmpty || !active.isEmpty {
            // Admit waiting requests while there is room.
            while active.count < maxBatchSize, let index = waiting.popLast() {
                let request = requests[index]
                guard !request.promptTokens.isEmpty else { throw GenerationError.emptyPrompt(request: index) }
                guard request.maxNewTokens >= 0 else {
                    throw GenerationError.badParameter(request: index, field: "maxNewTokens", value: String(request.maxNewTokens))
                }
                let capacity = request.promptTokens.count + request.maxNewTokens + 1
                let cache: KVCache
                var pending = request.promptTokens
                if let prefix = request.prefix {
                    guard prefix.count < request.promptTokens.count else {
                        throw GenerationError.badPrefix(request: index, reason: "the prefix (\(prefix.count) tokens) must be shorter than the prompt (\(request.promptTokens.count))")
                    }
                    cache = prefix.copy(keeping: prefix.count, reserving: capacity - prefix.count)
                    pending = Array(request.promptTokens[prefix.count...])
                } else {
                    cache = model.makeCache(capacity: capacity)
                }
                if request.maxNewTokens == 0 {
                    results[index] = GenerationResult(promptTokens: request.promptTokens, tokens: [], stopReason: .maxTokens, text: decode.map { _ in "" })
                    continue
                }
                active.append(Active(index: index, request: request, cache: cache, pending: pending))
            }
            if active.isEmpty { continue }

            // One pass: prefills of newcomers and decode steps of the others, together.
            let inputs = active.map { SequenceInput(tokens: $0.pending, cache: $0.cache, id: $0.index) }
            let logits = try model.forward(inputs, logits: .last)
            var stillActive: [Active] = []
            for (a, row) in zip(active, logits) {
                if a.stop != nil {
                    // This pass only fed the final token for capture.
                    finish(a, into: &results)
                    continue
                }
                let token = a.sampler.next(row)
                a.generated.append(token)
                onToken?(a.index, token)
                if a.request.stopTokens.contains(token) {
                    a.stop = .endToken
                } else if let cut = stopStringCut(a) {
                    a.stop = .stopString
                    a.text = cut
                } else if a.generated.count >= a.request.maxNewTokens {
                    a.stop = .maxTokens
                } else if a.cache.count + 1 >= contextLength {
                    a.stop = .contextFull
                }
                a.pending = [token]
                if let stop = a.stop {
                    if feedFinalToken && stop != .endToken && a.cache.count < contextLength {
                        stillActive.append(a)   // one more pass to feed the last token
                    } else {
                        finish(a, into: &results)
                    }
                } else {
                    stillActive.append(a)
                }
            }
            active = stillActive
        }
        return results
    }

    private func finish(_ a: Active, into results: inout [GenerationResult?]) {
        var text = a.text
        if text == nil, let decode {
            text = decode(a.stop == .endToken ? Array(a.generated.dropLast()) : a.generated)
        }
        results[a.index] = GenerationResult(promptTokens: a.request.promptTokens, tokens: a.generated, stopReason: a.stop ?? .maxTokens, text: text)
    }

    /// The text before the first stop string, if one has appeared.
    private func stopStringCut(_ a: Active) -> String? {
        guard !a.request.stopStrings.isEmpty, let decode else { return nil }
        let text = decode(a.generated)
        var earliest: String.Index? = nil
        for s in a.request.stopStrings where !s.isEmpty {
            if let r = text.range(of: s), earliest == nil || r.lowerBound < earliest! { earliest = r.lowerBound }
        }
        return earliest.map { String(text[..<$0]) }
    }
}
