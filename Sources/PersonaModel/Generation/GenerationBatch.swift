// The generation loop, one forward pass at a time: sequences of different lengths decoded together
// as a ragged batch (no padding), each with its own sampler, seed and stop rules. A caller admits
// sequences between passes (a newcomer's prefill shares the next pass with the others' decode
// steps), calls `step`, and gets every chosen token and, once a sequence stops, its result; a
// finished or cancelled sequence leaves the batch at once. `Generator.generate` drives it over a
// fixed list of requests; `persona serve`'s engine drives it over requests as they arrive. Sampling,
// the stop rules and the result's text live here only.

/// A token chosen in one pass.
public struct GeneratedToken: Sendable {
    /// The sequence's id (as given to `GenerationBatch.admit`).
    public let id: Int
    public let token: Int
    /// The logits row the token was chosen from (the raw model output: no temperature, top-k or top-p).
    public let logits: [Float]
    /// Why the sequence stops, when this token ended it.
    public let stop: StopReason?
}

/// What a pass reports, sequence by sequence in batch order.
public enum GenerationEvent: Sendable {
    case token(GeneratedToken)
    /// The sequence has left the batch; nothing more follows for its id.
    case finished(id: Int, result: GenerationResult)
}

/// A continuous batch, advanced one forward pass per `step`. Not thread-safe: one thread admits,
/// steps and cancels (the transformer runs on that thread).
public final class GenerationBatch {
    public let model: Transformer
    /// Turns generated token ids into text (needed for stop strings and `GenerationResult.text`).
    public let decode: (([Int]) -> String)?
    /// Feed the last response token through the model after a sequence stops without an end token,
    /// so that hooks (activation capture) see every response token; its result comes a pass later.
    public let feedFinalToken: Bool

    private final class Sequence {
        let id: Int
        let request: GenerationRequest
        let cache: KVCache
        var sampler: Sampler
        var pending: [Int]  // tokens to feed in the next pass
        var generated: [Int] = []
        var text: String? = nil
        var stop: StopReason? = nil
        init(id: Int, request: GenerationRequest, cache: KVCache, pending: [Int]) {
            self.id = id; self.request = request; self.cache = cache
            self.sampler = Sampler(request.sampling); self.pending = pending
        }
    }

    /// In admission order: the order of the pass's inputs and of the events.
    private var sequences: [Sequence] = []

    public init(model: Transformer, decode: (([Int]) -> String)? = nil, feedFinalToken: Bool = false) {
        self.model = model
        self.decode = decode
        self.feedFinalToken = feedFinalToken
    }

    /// Sequences in the batch (those waiting to feed their final token included).
    public var count: Int { sequences.count }
    public var isEmpty: Bool { sequences.isEmpty }
    /// The ids in the batch, in admission order.
    public var ids: [Int] { sequences.map(\.id) }

    /// Adds a sequence to the next pass. `id` names it in events and to hooks (`SequenceInput.id`)
    /// and in errors; it must not be in the batch already. A request for no tokens is answered at
    /// once: its result is returned and it does not join the batch.
    public func admit(_ request: GenerationRequest, id: Int) throws -> GenerationResult? {
        guard !request.promptTokens.isEmpty else { throw GenerationError.emptyPrompt(request: id) }
        guard request.maxNewTokens >= 0 else {
            throw GenerationError.badParameter(request: id, field: "maxNewTokens", value: String(request.maxNewTokens))
        }
        guard !sequences.contains(where: { $0.id == id }) else {
            throw GenerationError.badParameter(request: id, field: "id", value: "\(id) (already in the batch)")
        }
        if let prefix = request.prefix, prefix.count >= request.promptTokens.count {
            throw GenerationError.badPrefix(
                request: id, reason: "the prefix (\(prefix.count) tokens) must be shorter than the prompt (\(request.promptTokens.count))")
        }
        if request.maxNewTokens == 0 {
            return GenerationResult(promptTokens: request.promptTokens, tokens: [], stopReason: .maxTokens, text: decode.map { _ in "" })
        }
        let capacity = request.promptTokens.count + request.maxNewTokens + 1
        let cache: KVCache
        var pending = request.promptTokens
        if let prefix = request.prefix {
            cache = prefix.copy(keeping: prefix.count, reserving: capacity - prefix.count)
            pending = Array(request.promptTokens[prefix.count...])
        } else {
            cache = model.makeCache(capacity: capacity)
        }
        sequences.append(Sequence(id: id, request: request, cache: cache, pending: pending))
        return nil
    }

    /// Removes sequence `id` (its client went away); no event follows for it.
    public func cancel(_ id: Int) {
        sequences.removeAll { $0.id == id }
    }

    /// One forward pass over the batch, then one token for every running sequence and the stop
    /// rules in this order: an end token, a stop string in the text, `maxNewTokens`, a full
    /// context. Events come in batch order, a sequence's `finished` right after its last token
    /// (a pass later when `feedFinalToken` feeds that token). An empty batch returns no events.
    /// A failed pass throws and empties the batch (its caches hold part of a pass).
    public func step() throws -> [GenerationEvent] {
        guard !sequences.isEmpty else { return [] }
        let inputs = sequences.map { SequenceInput(tokens: $0.pending, cache: $0.cache, id: $0.id) }
        let logits: [[Float]]
        do {
            logits = try model.forward(inputs, logits: .last)
        } catch {
            sequences.removeAll()
            throw error
        }
        let contextLength = model.config.contextLength
        var events: [GenerationEvent] = []
        var still: [Sequence] = []
        for (s, row) in zip(sequences, logits) {
            if s.stop != nil {
                // This pass only fed the final token for capture.
                events.append(.finished(id: s.id, result: result(s)))
                continue
            }
            let token = s.sampler.next(row)
            s.generated.append(token)
            if s.request.stopTokens.contains(token) {
                s.stop = .endToken
            } else if !s.request.stopStrings.isEmpty, let decode,
                let cut = Self.stopStringCut(decode(s.generated), stopStrings: s.request.stopStrings)
            {
                s.stop = .stopString
                s.text = cut
            } else if s.generated.count >= s.request.maxNewTokens {
                s.stop = .maxTokens
            } else if s.cache.count + 1 >= contextLength {
                s.stop = .contextFull
            }
            s.pending = [token]
            events.append(.token(GeneratedToken(id: s.id, token: token, logits: row, stop: s.stop)))
            if let stop = s.stop {
                if feedFinalToken && stop != .endToken && s.cache.count < contextLength {
                    still.append(s)  // one more pass to feed the last token
                } else {
                    events.append(.finished(id: s.id, result: result(s)))
                }
            } else {
                still.append(s)
            }
        }
        sequences = still
        return events
    }

    private func result(_ s: Sequence) -> GenerationResult {
        var text = s.text
        if text == nil, let decode {
            text = decode(s.stop == .endToken ? Array(s.generated.dropLast()) : s.generated)
        }
        return GenerationResult(promptTokens: s.request.promptTokens, tokens: s.generated, stopReason: s.stop ?? .maxTokens, text: text)
    }

    /// The text before the earliest of `stopStrings` in `text`, once one has appeared (empty
    /// stop strings never match).
    static func stopStringCut(_ text: String, stopStrings: [String]) -> String? {
        var earliest: String.Index? = nil
        for s in stopStrings where !s.isEmpty {
            if let r = text.range(of: s), earliest.map({ r.lowerBound < $0 }) ?? true { earliest = r.lowerBound }
        }
        return earliest.map { String(text[..<$0]) }
    }
}
