// Teacher-forced log-likelihoods of given answers, optionally steered: what the model would have
// assigned, token by token, to an answer it did not sample. The behavioural measure (`behave`
// stage) uses it to compare two fixed answers without generating or judging anything.
//
// Steering is applied exactly where generation would have applied it had the model produced the
// answer itself: `SteeringHook` is told each sequence's prompt length, and
// `SteeringPositions.rows(of:promptLength:)` places the positions (DESIGN.md position modes).
//
// Each sequence runs as two passes: the prompt without its last token (no logits), then the last
// prompt token followed by the answer (logits at every row: row k predicts answer token k). In
// `response` mode the first pass is unsteered, so its cache is computed once per prompt and shared
// by both answers and every coefficient (`PrefixCachePool`).
import Foundation
import PersonaModel
import PersonaTensor

/// One prompt and one answer to score.
public struct TeacherForcedSequence: Equatable, Sendable {
    public var promptTokens: [Int]
    public var answerTokens: [Int]
    public init(promptTokens: [Int], answerTokens: [Int]) { self.promptTokens = promptTokens; self.answerTokens = answerTokens }
}

/// Caches of unsteered prompt prefixes (every prompt token but the last), kept across calls.
public final class PrefixCachePool {
    var caches: [[Int]: KVCache] = [:]
    public init() {}
    public var count: Int { caches.count }
}

public enum TeacherForcing {
    /// Rows per forward pass of the answer passes (bounds the logits buffer: rows × vocabulary floats).
    public static let rowsPerPass = 256

    /// Log-probability of every answer token, `[sequences.count][answerTokens.count]`, in double
    /// precision. `steering` empty (or every coefficient 0) is the unsteered model, bit-identical to
    /// no hook; several specs steer several layers at once (one hook).
    /// `interventions` (projection hooks: `--ablate`, `--cap`) run after the steering hook at every
    /// pass, the pool's unsteered prefixes included: a pool must see the same interventions in every call.
    public static func logProbabilities(
        _ sequences: [TeacherForcedSequence], transformer: Transformer, steering: [SteeringSpec],
        pool: PrefixCachePool = PrefixCachePool(), interventions: [LayerHook] = []
    ) throws -> [[Double]] {
        let active = steering.filter { $0.coefficient != 0 }
        for (i, s) in sequences.enumerated() {
            guard !s.promptTokens.isEmpty else { throw TransformerError.badBatch(reason: "teacher-forced sequence \(i) has an empty prompt") }
            guard !s.answerTokens.isEmpty else { throw TransformerError.badBatch(reason: "teacher-forced sequence \(i) has an empty answer") }
        }
        // Pass 1: prompt prefixes. Shared (unsteered) ones live in the pool; steered ones per call.
        let prefixSteered = active.contains { $0.positions != .response }
        var local: [[Int]: KVCache] = [:]
        var prefixes: [[Int]] = []
        var seen = Set<[Int]>()
        for s in sequences {
            let prefix = Array(s.promptTokens.dropLast())
            if prefixSteered || pool.caches[prefix] == nil, seen.insert(prefix).inserted { prefixes.append(prefix) }
        }
        var batch: [SequenceInput] = [], batchRows = 0
        var lengths: [Int: Int] = [:]
        func flushPrefixes() throws {
            guard !batch.isEmpty else { return }
            if prefixSteered {
                let hook = try SteeringHook(active, promptLengths: lengths, config: transformer.config)
                _ = try transformer.withHooks([hook] + interventions) { try transformer.forward(batch, logits: .none) }
            } else {
                _ = try transformer.withHooks(interventions) { try transformer.forward(batch, logits: .none) }
            }
            batch = []; batchRows = 0; lengths = [:]
        }
        for (k, prefix) in prefixes.enumerated() {
            let cache = transformer.makeCache(capacity: prefix.count + 1)
            if prefixSteered { local[prefix] = cache } else { pool.caches[prefix] = cache }
            guard !prefix.isEmpty else { continue }
            batch.append(SequenceInput(tokens: prefix, cache: cache, id: k))
            lengths[k] = prefix.count + 1
            batchRows += prefix.count
            if batchRows >= rowsPerPass * 4 { try flushPrefixes() }
        }
        try flushPrefixes()

        // Pass 2: last prompt token + answer, logits at every row.
        var results = [[Double]](repeating: [], count: sequences.count)
        var owners: [Int] = []
        func flushAnswers() throws {
            guard !batch.isEmpty else { return }
            let logits: [[Float]]
            if !active.isEmpty {
                let hook = try SteeringHook(active, promptLengths: lengths, config: transformer.config)
                logits = try transformer.withHooks([hook] + interventions) { try transformer.forward(batch, logits: .all) }
            } else {
                logits = try transformer.withHooks(interventions) { try transformer.forward(batch, logits: .all) }
            }
            var row = 0
            for (k, owner) in owners.enumerated() {
                let answer = sequences[owner].answerTokens
                var out: [Double] = []
                out.reserveCapacity(answer.count)
                for t in 0..<answer.count {
                    out.append(LogProbabilities.logProbability(of: answer[t], in: logits[row + t]))
                }
                row += batch[k].tokens.count
                results[owner] = out
            }
            batch = []; batchRows = 0; lengths = [:]; owners = []
        }
        for (i, s) in sequences.enumerated() {
            let prefix = Array(s.promptTokens.dropLast())
            guard let shared = prefixSteered ? local[prefix] : pool.caches[prefix] else {
                throw TransformerError.badBatch(reason: "teacher-forced sequence \(i): prompt prefix cache missing")
            }
            let cache = shared.copy(keeping: shared.count, reserving: s.answerTokens.count + 1)
            let tokens = [s.promptTokens[s.promptTokens.count - 1]] + s.answerTokens
            if batchRows + tokens.count > rowsPerPass, !batch.isEmpty { try flushAnswers() }
            batch.append(SequenceInput(tokens: tokens, cache: cache, id: i))
            lengths[i] = s.promptTokens.count
            owners.append(i)
            batchRows += tokens.count
        }
        try flushAnswers()
        return results
    }
}
