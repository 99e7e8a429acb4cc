// Where answers are generated. By default the pipeline samples them from its own model; with
// `--engine openai` they come from an OpenAI-compatible server (vLLM, llama.cpp's llama-server,
// `persona serve`) running the same model, and the pipeline computes their activations itself by
// one teacher-forced pass over prompt + answer on its local weights (`Pipeline.generateRemotely`).
// Vectors then depend only on the answers' text, not on where it was sampled.
//
// The seam is this protocol (PersonaCore carries no HTTP client); `PersonaRemote` implements it.
import Foundation
import PersonaModel

/// One answer to ask an engine for.
public struct EngineRequest: Equatable, Sendable {
    public var messages: [ChatMessage]
    public var maxTokens: Int
    public var temperature: Double
    public var topP: Double
    public var seed: UInt64
    /// Steering the engine must apply; only set for an engine whose `steers` is true.
    public var steering: SteeringSpec?
    /// Projection interventions the engine must apply after the steering at each block (the run's
    /// `--ablate`); only set for an engine whose `steers` is true.
    public var projections: [EngineProjection]
    public init(
        messages: [ChatMessage], maxTokens: Int, temperature: Double, topP: Double, seed: UInt64, steering: SteeringSpec? = nil,
        projections: [EngineProjection] = []
    ) {
        self.messages = messages; self.maxTokens = maxTokens; self.temperature = temperature; self.topP = topP; self.seed = seed
        self.steering = steering; self.projections = projections
    }
}

/// A projection intervention as a request carries it (`persona serve`'s `projections` entry with an
/// inline vector): the direction (any length; the server normalises it), at `layers` (nil = every block).
public struct EngineProjection: Equatable, Sendable {
    public var direction: [Float]
    public var intervention: ProjectionIntervention
    public var layers: [Int]?
    public var positions: SteeringPositions
    public init(direction: [Float], intervention: ProjectionIntervention, layers: [Int]? = nil, positions: SteeringPositions = .all) {
        self.direction = direction; self.intervention = intervention; self.layers = layers; self.positions = positions
    }
}

/// What an engine gave for one request: the answer's text, or why there is none.
public struct EngineAnswer: Equatable, Sendable {
    public var text: String
    /// The run store's stop reason (`end_token`, `max_tokens`, …), mapped from the server's `finish_reason`.
    public var stopReason: String
    /// Set when this request failed (after the engine's retries); `text` is then empty.
    public var failure: String?
    public init(text: String, stopReason: String, failure: String? = nil) { self.text = text; self.stopReason = stopReason; self.failure = failure }
    public static func failed(_ reason: String) -> EngineAnswer { EngineAnswer(text: "", stopReason: "", failure: reason) }
}

/// Which engine a run generates with, as the run store remembers it (so that a later stage run
/// alone asks the same engine). No secret: only the name of the API key's variable.
public struct EngineSetting: Codable, Equatable, Sendable {
    /// "local" or "openai".
    public var kind: String
    public var baseURL: String?
    public var model: String?
    public var apiKeyEnvironmentVariable: String?
    public var concurrency: Int?
    public init(kind: String, baseURL: String? = nil, model: String? = nil, apiKeyEnvironmentVariable: String? = nil, concurrency: Int? = nil) {
        self.kind = kind; self.baseURL = baseURL; self.model = model
        self.apiKeyEnvironmentVariable = apiKeyEnvironmentVariable; self.concurrency = concurrency
    }
    public static let local = EngineSetting(kind: "local")
}

/// An answer generator outside this process.
public protocol AnswerEngine: AnyObject {
    /// Identifies the engine in answer cache keys and in the run store (no secrets).
    var identity: String { get }
    /// Whether the engine applies Persona steering vectors itself (only `persona serve` does, and
    /// only on the same weights); when false, steered answers are generated locally.
    var steers: Bool { get }
    /// Requests worth sending at once (the pipeline commits answers per chunk of this many).
    var chunkSize: Int { get }
    /// One answer per request, in request order. Throws only when no request can succeed (bad key,
    /// wrong URL); a request that fails alone comes back as `EngineAnswer.failed`.
    func generate(_ requests: [EngineRequest], progress: (Int) -> Void) throws -> [EngineAnswer]
}

extension Pipeline {
    /// Where answers of this kind come from: steering-stage answers (the unsteered baseline included,
    /// so a sweep's points all come from one engine) go to the engine only when it steers.
    func generatesRemotely(steeringStage: Bool) -> Bool {
        guard let engine else { return false }
        return !steeringStage || engine.steers
    }

    /// What an answer's cache key adds for where it was generated (nothing for the local model, so
    /// local runs keep their keys).
    func engineKeyParts(remote: Bool) -> [String] {
        guard remote, let engine else { return [] }
        return ["engine", engine.identity]
    }

    /// The prompt and answer tokens of a conversation and its answer: the chat prompt with the
    /// generation prompt, and the tokens the full text adds after it (the answer alone, without what
    /// the tokenizer adds to every text, when the tokenizer merges across the boundary).
    func teacherForcedSequence(messages: [ChatMessage], answer: String) throws -> (promptText: String, sequence: TeacherForcedSequence) {
        let promptText = try model.renderChat(messages)
        let prompt = model.tokenizer.encode(promptText)
        guard !answer.isEmpty else { return (promptText, TeacherForcedSequence(promptTokens: prompt, answerTokens: [])) }
        let full = model.tokenizer.encode(promptText + answer)
        if full.count > prompt.count, full.starts(with: prompt) {
            return (promptText, TeacherForcedSequence(promptTokens: prompt, answerTokens: Array(full[prompt.count...])))
        }
        let empty = model.tokenizer.encode("")
        var bare = model.tokenizer.encode(answer)
        if bare.starts(with: empty) { bare.removeFirst(empty.count) }
        return (promptText, TeacherForcedSequence(promptTokens: prompt, answerTokens: bare))
    }

    /// Rows per teacher-forced capture pass (bounds the pass's activations).
    static let captureRowsPerPass = 1024

    /// The interventions an answer was generated under, repeated in its teacher-forced capture pass.
    struct CaptureIntervention {
        var steering: SteeringSpec?
        var ablated = false
    }

    /// Activation summaries of answers generated elsewhere: one pass over prompt + answer per
    /// sequence (batched, no logits), the capture hook told where each prompt ends. A sequence with
    /// an intervention (`interventions`, aligned with `sequences`; none = unsteered) is steered by
    /// position as it was generated, then ablated (the run's `--ablate`) at every block, before the
    /// capture: the order of local generation (Pipeline.generateMissing). The same summaries
    /// generation captures, up to float rounding of a batched pass against decode steps.
    func captureActivations(_ sequences: [TeacherForcedSequence], interventions: [CaptureIntervention] = []) throws -> [ActivationSummary?] {
        let ablation = interventions.contains(where: \.ablated) ? try steeringAblation()?.hooks ?? [] : []
        var out = [ActivationSummary?](repeating: nil, count: sequences.count)
        var start = 0
        while start < sequences.count {
            var end = start, rows = 0
            while end < sequences.count, end == start || rows + sequences[end].promptTokens.count + sequences[end].answerTokens.count <= Self.captureRowsPerPass
            {
                rows += sequences[end].promptTokens.count + sequences[end].answerTokens.count
                end += 1
            }
            let capture = ActivationCaptureHook(config: model.config)
            let steering = SteeringHook(config: model.config)
            var batch: [SequenceInput] = []
            for i in start..<end {
                let s = sequences[i]
                let tokens = s.promptTokens + s.answerTokens
                capture.expect(id: i, promptLength: s.promptTokens.count)
                if i < interventions.count {
                    let specs = interventions[i].steering.map { [$0] } ?? []
                    try steering.set(specs, projections: interventions[i].ablated ? ablation : [], promptLength: s.promptTokens.count, for: i)
                }
                batch.append(SequenceInput(tokens: tokens, cache: model.transformer.makeCache(capacity: tokens.count), id: i))
            }
            let hooks: [LayerHook] = (steering.isEmpty ? [] : [steering]) + [capture]
            _ = try model.transformer.withHooks(hooks) { try model.transformer.forward(batch, logits: .none) }
            for i in start..<end { out[i] = capture.summary(for: i) }
            start = end
        }
        return out
    }

    /// Generates `items` on the engine, chunk by chunk, and stores each answer with its activations
    /// as soon as its chunk is back. A request that failed is left unstored (a re-run asks again);
    /// when every request of a chunk failed, the stage stops with the reason. Returns how many were stored.
    func generateRemotely(_ items: [GenerationItem], engine: AnswerEngine, done: inout Int) throws -> (stored: Int, failures: [String]) {
        var failures: [String] = []
        var stored = 0
        // Only an engine that steers gets steering-stage items (`generatesRemotely`), ablated ones included.
        let projections = items.contains(where: \.ablated) ? try steeringAblation()?.engineProjections ?? [] : []
        for chunk in items.chunked(max(engine.chunkSize, 1)) {
            let chunk = Array(chunk)
            var requests: [EngineRequest] = []
            for item in chunk {
                var messages: [ChatMessage] = []
                if let s = item.system { messages.append(ChatMessage(role: "system", content: s)) }
                messages.append(ChatMessage(role: "user", content: item.user))
                requests.append(
                    EngineRequest(
                        messages: messages, maxTokens: item.maxTokens, temperature: item.sampling.temperature,
                        topP: item.sampling.topP, seed: item.sampling.seed,
                        steering: engine.steers ? item.steering.flatMap { $0.coefficient == 0 ? nil : $0 } : nil,
                        projections: engine.steers && item.ablated ? projections : []))
            }
            let base = done
            let answers = try engine.generate(requests) { self.progress.advance(done: base + $0, tokens: 0) }
            guard answers.count == chunk.count else {
                throw PipelineError.engineFailed(engine: engine.identity, reason: "returned \(answers.count) answers for \(chunk.count) requests")
            }
            let chunkFailures = answers.compactMap(\.failure)
            if chunkFailures.count == chunk.count, let first = chunkFailures.first {
                throw PipelineError.engineFailed(engine: engine.identity, reason: first)
            }
            failures += chunkFailures
            var ready: [(GenerationItem, EngineAnswer, String, TeacherForcedSequence)] = []
            for (i, item) in chunk.enumerated() where answers[i].failure == nil {
                let (text, sequence) = try teacherForcedSequence(messages: requests[i].messages, answer: answers[i].text)
                ready.append((item, answers[i], text, sequence))
            }
            // Steered (and ablated) answers are captured under the interventions they were generated with.
            let summaries = try captureActivations(
                ready.map(\.3),
                interventions: ready.map {
                    CaptureIntervention(steering: engine.steers ? $0.0.steering : nil, ablated: engine.steers && $0.0.ablated)
                })
            var rows: [(AnswerRecord, ActivationSummary?)] = []
            for (k, (item, answer, promptText, sequence)) in ready.enumerated() {
                var r = item.record
                r.promptText = promptText
                r.answer = answer.text
                r.promptTokenCount = sequence.promptTokens.count
                r.responseTokenCount = sequence.answerTokens.count
                r.stopReason = answer.stopReason
                r.engine = engine.identity
                rows.append((r, summaries[k]))
            }
            try store.insert(answers: rows)
            stored += rows.count
            done += rows.count
            progress.advance(done: done, tokens: 0)
        }
        return (stored, failures)
    }
}
