// The engine loop behind `persona serve`: one thread owns the model (the transformer is not
// thread-safe) and runs continuous batching. Requests wait in a bounded queue; before every forward
// pass the loop admits waiting requests into the running batch (their prefill shares the pass with
// the others' decode steps), and a finished or cancelled sequence leaves at once. Each sequence
// carries its own sampling parameters, seed, stop conditions and steering (a per-sequence hook).
//
// A sequence's tokens are exactly those of `Generator` with the same settings: the same sampler,
// the same stop rules in the same order, and the transformer's results do not depend on the batch.
import Foundation
import PersonaCore
import PersonaModel

/// One completion to run.
public struct EngineJob: Sendable {
    public var promptTokens: [Int]
    public var maxNewTokens: Int
    public var sampling: SamplingParameters
    public var stopTokens: Set<Int>
    public var stopStrings: [String]
    public var steering: [SteeringSpec]
    /// Projection interventions (ablation, capping) on this sequence's rows, after its steering.
    public var projections: [ProjectionHook]
    /// Report the chosen token's log-probability (and `topLogProbabilities` alternatives) per step.
    public var logProbabilities: Bool
    public var topLogProbabilities: Int

    public init(promptTokens: [Int], maxNewTokens: Int, sampling: SamplingParameters = .greedy, stopTokens: Set<Int> = [],
                stopStrings: [String] = [], steering: [SteeringSpec] = [], projections: [ProjectionHook] = [], logProbabilities: Bool = false,
                topLogProbabilities: Int = 0) {
        self.promptTokens = promptTokens; self.maxNewTokens = maxNewTokens; self.sampling = sampling
        self.stopTokens = stopTokens; self.stopStrings = stopStrings; self.steering = steering; self.projections = projections
        self.logProbabilities = logProbabilities; self.topLogProbabilities = topLogProbabilities
    }
}

/// What the engine reports about a job, in order: tokens, then exactly one `finished` or `failed`.
public enum EngineEvent: Sendable {
    /// A generated token. `text` is the new text it makes visible (may be empty: an incomplete
    /// UTF-8 character, a special token, or text held back because it may start a stop string).
    case token(EngineToken)
    case finished(EngineFinish)
    case failed(String)
}

public struct EngineToken: Sendable {
    public var token: Int
    public var text: String
    /// The chosen token's log-probability and the best alternatives (when asked for).
    public var logProbability: Float?
    public var top: [TokenLogProbability]
}

public struct EngineFinish: Sendable {
    public var stopReason: StopReason
    /// The whole response text (cut before a stop string; no end token).
    public var text: String
    /// Every generated token, the end token included when the sequence stopped on one.
    public var tokens: [Int]
    public var promptTokenCount: Int
    /// Text not yet delivered through `token` events (held back for stop strings, or an incomplete
    /// character at the end).
    public var remainingText: String
}

public enum EngineError: Error, CustomStringConvertible, Equatable {
    case queueFull(limit: Int)
    case stopped
    case promptTooLong(tokens: Int, contextLength: Int)
    case emptyPrompt

    public var description: String {
        switch self {
        case let .queueFull(limit): return "the server is busy: \(limit) requests are already waiting; retry later"
        case .stopped: return "the engine has stopped"
        case let .promptTooLong(tokens, context): return "the prompt has \(tokens) tokens; the model's context is \(context) tokens (leave room for at least one generated token)"
        case .emptyPrompt: return "the prompt has no tokens"
        }
    }
}

/// Owns a model and runs submitted jobs in a continuous batch on its own thread.
public final class InferenceEngine: @unchecked Sendable {
    public let model: LanguageModel
    public let maxBatchSize: Int
    public let maxQueued: Int

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var waiting: [Submitted] = []
    private var cancelledIDs: Set<Int> = []
    private var nextID = 0
    private var stopping = false
    private var running = false
    private var activeCount = 0
    // Engine thread only:
    private let steering: SequenceSteeringHook
    private var thread: Thread?

    private struct Submitted {
        let id: Int
        let job: EngineJob
        let handler: @Sendable (EngineEvent) -> Void
    }

    public init(model: LanguageModel, maxBatchSize: Int = 16, maxQueued: Int = 64) {
        self.model = model
        self.maxBatchSize = max(1, maxBatchSize)
        self.maxQueued = max(0, maxQueued)
        self.steering = SequenceSteeringHook(config: model.config)
    }

    deinit { stop() }

    /// Starts the engine thread (idempotent).
    public func start() {
        condition.lock(); defer { condition.unlock() }
        guard !running else { return }
        running = true; stopping = false
        let t = Thread { [self] in self.loop() }
        t.name = "persona-engine"
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    /// Stops the loop after the current pass; jobs still running or waiting fail with `.stopped`.
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    /// Requests waiting plus running.
    public var load: (waiting: Int, active: Int) {
        condition.lock(); defer { condition.unlock() }
        return (waiting.count, activeCount)
    }

    /// Queues a job; `handler` is called on the engine thread with every event. Returns the job's id
    /// (for `cancel`). Throws `queueFull` when `maxQueued` jobs are already waiting.
    @discardableResult
    public func submit(_ job: EngineJob, handler: @escaping @Sendable (EngineEvent) -> Void) throws -> Int {
        guard !job.promptTokens.isEmpty else { throw EngineError.emptyPrompt }
        let context = model.config.contextLength
        guard job.promptTokens.count < context else { throw EngineError.promptTooLong(tokens: job.promptTokens.count, contextLength: context) }
        try SequenceSteeringHook.validate(job.steering, config: model.config)
        condition.lock(); defer { condition.unlock() }
        guard running, !stopping else { throw EngineError.stopped }
        guard waiting.count < maxQueued + max(0, maxBatchSize - activeCount) else { throw EngineError.queueFull(limit: maxQueued) }
        nextID += 1
        waiting.append(Submitted(id: nextID, job: job, handler: handler))
        condition.signal()
        return nextID
    }

    /// Stops a job early (a client went away); it ends with no further events.
    public func cancel(_ id: Int) {
        condition.lock(); defer { condition.unlock() }
        cancelledIDs.insert(id)
        condition.signal()
    }

    /// Runs `job` and waits for the end (convenience for tests and in-process callers).
    public func run(_ job: EngineJob) throws -> EngineFinish {
        let box = ResultBox()
        try submit(job) { event in box.receive(event) }
        return try box.wait()
    }

    // MARK: The loop

    private final class Sequence {
        let id: Int
        let job: EngineJob
        let handler: @Sendable (EngineEvent) -> Void
        let cache: KVCache
        var sampler: Sampler
        var pending: [Int]
        var generated: [Int] = []
        var responseBytes: [UInt8] = []
        var deliveredBytes = 0
        var stop: StopReason?
        var stopText: String?

        init(_ s: Submitted, cache: KVCache) {
            id = s.id; job = s.job; handler = s.handler; self.cache = cache
            sampler = Sampler(s.job.sampling); pending = s.job.promptTokens
        }
    }

    /// Blocks until the engine thread has exited (after `stop`), its hook removed from the model.
    public func waitUntilStopped() {
        condition.lock(); defer { condition.unlock() }
        while running { condition.wait() }
    }

    private func loop() {
        let transformer = model.transformer
        let handle = transformer.addHook(steering)
        runLoop()
        transformer.removeHook(handle)
        condition.lock()
        running = false
        condition.broadcast()
        condition.unlock()
    }

    private func runLoop() {
        var active: [Sequence] = []

        while true {
            // Admit, drop cancelled ones, or wait for work.
            condition.lock()
            while waiting.isEmpty && active.isEmpty && !stopping { condition.wait() }
            if stopping {
                let left = waiting
                waiting.removeAll()
                activeCount = 0
                condition.unlock()
                for s in active { s.handler(.failed(EngineError.stopped.description)); steering.remove(s.id) }
                for s in left { s.handler(.failed(EngineError.stopped.description)) }
                return
            }
            let cancelled = cancelledIDs
            cancelledIDs.removeAll()
            var admitted: [Submitted] = []
            waiting.removeAll { cancelled.contains($0.id) }
            while active.count + admitted.count < maxBatchSize, !waiting.isEmpty { admitted.append(waiting.removeFirst()) }
            activeCount = active.count + admitted.count
            condition.unlock()

            if !cancelled.isEmpty {
                active.removeAll { s in
                    guard cancelled.contains(s.id) else { return false }
                    steering.remove(s.id)
                    return true
                }
            }
            for s in admitted {
                let sequence = Sequence(s, cache: model.transformer.makeCache(capacity: s.job.promptTokens.count + s.job.maxNewTokens + 1))
                if s.job.maxNewTokens <= 0 {
                    s.handler(.finished(EngineFinish(stopReason: .maxTokens, text: "", tokens: [], promptTokenCount: s.job.promptTokens.count, remainingText: "")))
                    continue
                }
                do {
                    try steering.set(s.job.steering, projections: s.job.projections, for: s.id)
                } catch {
                    s.handler(.failed(String(describing: error)))
                    continue
                }
                active.append(sequence)
            }
            if active.isEmpty { continue }
            active = step(active)
            condition.lock(); activeCount = active.count; condition.unlock()
        }
    }

    /// One forward pass for every active sequence; returns those still running.
    private func step(_ active: [Sequence]) -> [Sequence] {
        let inputs = active.map { SequenceInput(tokens: $0.pending, cache: $0.cache, id: $0.id) }
        let logits: [[Float]]
        do {
            logits = try model.transformer.forward(inputs, logits: .last)
        } catch {
            // A pass failed (should not happen for validated jobs): every sequence in it fails.
            for s in active { s.handler(.failed("generation failed: \(error)")); steering.remove(s.id) }
            return []
        }
        let contextLength = model.config.contextLength
        var still: [Sequence] = []
        for (s, row) in zip(active, logits) {
            let token = s.sampler.next(row)
            s.generated.append(token)
            var event = EngineToken(token: token, text: "", logProbability: nil, top: [])
            if s.job.logProbabilities {
                let lp = LogProbabilities.logSoftmax(row)
                event.logProbability = lp.indices.contains(token) ? lp[token] : nil
                event.top = LogProbabilities.top(lp, count: s.job.topLogProbabilities)
            }
            // The same stop rules, in the same order, as `Generator`.
            if s.job.stopTokens.contains(token) {
                s.stop = .endToken
            } else {
                if !model.tokenizer.isSpecial(token) { s.responseBytes += model.tokenizer.tokenBytes(token) ?? [] }
                if let cut = stopStringCut(s) {
                    s.stop = .stopString
                    s.stopText = cut
                } else if s.generated.count >= s.job.maxNewTokens {
                    s.stop = .maxTokens
                } else if s.cache.count + 1 >= contextLength {
                    s.stop = .contextFull
                }
            }
            if s.stop == nil { event.text = deliverableText(s) }
            s.handler(.token(event))
            s.pending = [token]
            if let stop = s.stop {
                let text = s.stopText ?? String(decoding: s.responseBytes, as: UTF8.self)
                let delivered = String(decoding: s.responseBytes[..<s.deliveredBytes], as: UTF8.self)
                let remaining = text.hasPrefix(delivered) ? String(text.dropFirst(delivered.count)) : ""
                s.handler(.finished(EngineFinish(stopReason: stop, text: text, tokens: s.generated,
                                                 promptTokenCount: s.job.promptTokens.count, remainingText: remaining)))
                steering.remove(s.id)
            } else {
                still.append(s)
            }
        }
        return still
    }

    /// The text before the first stop string, once one has appeared (as `Generator` finds it).
    private func stopStringCut(_ s: Sequence) -> String? {
        guard !s.job.stopStrings.isEmpty else { return nil }
        let text = String(decoding: s.responseBytes, as: UTF8.self)
        var earliest: String.Index? = nil
        for stop in s.job.stopStrings where !stop.isEmpty {
            if let r = text.range(of: stop), earliest == nil || r.lowerBound < earliest! { earliest = r.lowerBound }
        }
        return earliest.map { String(text[..<$0]) }
    }

    /// New text that is safe to send: complete UTF-8 characters only, holding back a tail that
    /// could be the beginning of a stop string.
    private func deliverableText(_ s: Sequence) -> String {
        let bytes = s.responseBytes
        var end = bytes.count
        // Drop an incomplete character at the end.
        var back = 0
        while back < 4 && end - back - 1 >= s.deliveredBytes {
            let b = bytes[end - back - 1]
            if b & 0xC0 == 0x80 { back += 1; continue }
            let need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
            if need > back + 1 { end -= back + 1 }
            break
        }
        // Hold back the longest tail that is a proper prefix of a stop string.
        var hold = 0
        for stop in s.job.stopStrings {
            let stopBytes = Array(stop.utf8)
            guard stopBytes.count > 1 else { continue }
            for length in stride(from: min(stopBytes.count - 1, end - s.deliveredBytes), to: hold, by: -1)
            where bytes[(end - length)..<end].elementsEqual(stopBytes[..<length]) {
                hold = length
                break
            }
        }
        end -= hold
        guard end > s.deliveredBytes else { return "" }
        let text = String(decoding: bytes[s.deliveredBytes..<end], as: UTF8.self)
        s.deliveredBytes = end
        return text
    }
}

/// Collects one job's events for a blocking caller.
private final class ResultBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<EngineFinish, Error>?

    func receive(_ event: EngineEvent) {
        condition.lock(); defer { condition.unlock() }
        switch event {
        case .token: return
        case .finished(let f): result = .success(f)
        case .failed(let message): result = .failure(InferenceFailure(message: message))
        }
        condition.broadcast()
    }

    func wait() throws -> EngineFinish {
        condition.lock(); defer { condition.unlock() }
        while result == nil { condition.wait() }
        return try result!.get()
    }
}

/// A job that failed inside the engine.
public struct InferenceFailure: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
