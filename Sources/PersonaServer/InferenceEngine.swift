// The engine behind `persona serve`: one thread owns the model (the transformer is not
// thread-safe) and drives a `GenerationBatch`, the generation loop `persona generate` runs through
// `Generator` — so a request's tokens, stop and text are exactly `Generator`'s for the same
// settings. What serving adds lives here: a bounded queue whose jobs join the running batch before
// every pass, cancellation (a sequence leaves at once), per-sequence steering and projections (one
// `SteeringHook`, entries keyed by job id), log-probabilities, and streamed text that holds back
// incomplete characters and the possible beginning of a stop string.
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

    public init(
        promptTokens: [Int], maxNewTokens: Int, sampling: SamplingParameters = .greedy, stopTokens: Set<Int> = [],
        stopStrings: [String] = [], steering: [SteeringSpec] = [], projections: [ProjectionHook] = [], logProbabilities: Bool = false,
        topLogProbabilities: Int = 0
    ) {
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

extension EngineFinish {
    /// A finished sequence's report, of which `delivered` has already been streamed.
    init(_ result: GenerationResult, delivered: String) {
        let text = result.text ?? ""
        self.init(
            stopReason: result.stopReason, text: text, tokens: result.tokens, promptTokenCount: result.promptTokens.count,
            remainingText: text.hasPrefix(delivered) ? String(text.dropFirst(delivered.count)) : "")
    }
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
        case let .promptTooLong(tokens, context):
            return "the prompt has \(tokens) tokens; the model's context is \(context) tokens (leave room for at least one generated token)"
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
    private let steering: SteeringHook
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
        self.steering = SteeringHook(config: model.config)
    }

    deinit { stop() }

    /// Starts the engine thread (idempotent).
    public func start() {
        condition.lock(); defer { condition.unlock() }
        guard !running else { return }
        running = true; stopping = false
        let t = Thread { [self] in self.threadMain() }
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
        try SteeringHook.validate(job.steering, config: model.config)
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

    /// A job in the batch: where its events go, and what of its text has been streamed.
    private final class Running {
        let job: EngineJob
        let handler: @Sendable (EngineEvent) -> Void
        /// The bytes of the response's text tokens so far (no end token, no special tokens).
        var responseBytes: [UInt8] = []
        var deliveredBytes = 0

        init(_ s: Submitted) { job = s.job; handler = s.handler }
    }

    /// Blocks until the engine thread has exited (after `stop`), its hook removed from the model.
    public func waitUntilStopped() {
        condition.lock(); defer { condition.unlock() }
        while running { condition.wait() }
    }

    private func threadMain() {
        let transformer = model.transformer
        let handle = transformer.addHook(steering)
        serveJobs()
        transformer.removeHook(handle)
        condition.lock()
        running = false
        condition.broadcast()
        condition.unlock()
    }

    private func serveJobs() {
        let batch = model.makeGenerationBatch()
        var jobs: [Int: Running] = [:]

        while true {
            // Admit, drop cancelled ones, or wait for work.
            condition.lock()
            while waiting.isEmpty && batch.isEmpty && !stopping { condition.wait() }
            if stopping {
                let left = waiting
                waiting.removeAll()
                activeCount = 0
                condition.unlock()
                for id in batch.ids { jobs[id]?.handler(.failed(EngineError.stopped.description)); steering.remove(id) }
                for s in left { s.handler(.failed(EngineError.stopped.description)) }
                return
            }
            let cancelled = cancelledIDs
            cancelledIDs.removeAll()
            var admitted: [Submitted] = []
            waiting.removeAll { cancelled.contains($0.id) }
            while batch.count + admitted.count < maxBatchSize, !waiting.isEmpty { admitted.append(waiting.removeFirst()) }
            activeCount = batch.count + admitted.count
            condition.unlock()

            for id in cancelled where jobs[id] != nil {
                jobs[id] = nil
                batch.cancel(id)
                steering.remove(id)
            }
            for s in admitted { admit(s, to: batch, jobs: &jobs) }
            if batch.isEmpty { continue }
            step(batch, jobs: &jobs)
            condition.lock(); activeCount = batch.count; condition.unlock()
        }
    }

    /// Puts a job into the batch with its steering, or ends it at once (no tokens asked, or an
    /// error in its settings).
    private func admit(_ s: Submitted, to batch: GenerationBatch, jobs: inout [Int: Running]) {
        let job = s.job
        let request = GenerationRequest(
            promptTokens: job.promptTokens, maxNewTokens: max(0, job.maxNewTokens), sampling: job.sampling,
            stopTokens: job.stopTokens, stopStrings: job.stopStrings)
        do {
            if let result = try batch.admit(request, id: s.id) {
                s.handler(.finished(EngineFinish(result, delivered: "")))
                return
            }
            do {
                try steering.set(job.steering, projections: job.projections, for: s.id)
            } catch {
                batch.cancel(s.id)
                throw error
            }
        } catch {
            s.handler(.failed(String(describing: error)))
            return
        }
        jobs[s.id] = Running(s)
    }

    /// One pass of the batch; its events go to the jobs' handlers.
    private func step(_ batch: GenerationBatch, jobs: inout [Int: Running]) {
        let ids = batch.ids
        let events: [GenerationEvent]
        do {
            events = try batch.step()
        } catch {
            // A pass failed (should not happen for validated jobs): every sequence in it fails.
            for id in ids { jobs[id]?.handler(.failed("generation failed: \(error)")); steering.remove(id) }
            jobs.removeAll()
            return
        }
        for event in events {
            switch event {
            case .token(let t):
                guard let r = jobs[t.id] else { continue }
                var token = EngineToken(token: t.token, text: "", logProbability: nil, top: [])
                if r.job.logProbabilities {
                    let lp = LogProbabilities.logSoftmax(t.logits)
                    token.logProbability = lp.indices.contains(t.token) ? lp[t.token] : nil
                    token.top = LogProbabilities.top(lp, count: r.job.topLogProbabilities)
                }
                if t.stop != .endToken, !model.tokenizer.isSpecial(t.token) { r.responseBytes += model.tokenizer.tokenBytes(t.token) ?? [] }
                if t.stop == nil { token.text = deliverableText(r) }
                r.handler(.token(token))
            case let .finished(id, result):
                guard let r = jobs.removeValue(forKey: id) else { continue }
                let delivered = String(decoding: r.responseBytes[..<r.deliveredBytes], as: UTF8.self)
                r.handler(.finished(EngineFinish(result, delivered: delivered)))
                steering.remove(id)
            }
        }
    }

    /// New text that is safe to send: complete UTF-8 characters only, holding back a tail that
    /// could be the beginning of a stop string.
    private func deliverableText(_ s: Running) -> String {
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
