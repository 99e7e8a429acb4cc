// The refusal direction (Arditi et al. 2024, "Refusal in language models is mediated by a single
// direction"): per layer, the mean residual activation at the last prompt token (the end of the
// chat template's generation prompt) over requests the model refuses, minus the same mean over
// matching requests it answers. Ablating that one direction at every layer removes refusal.
//
// The request set is data (`Directions/refusal.json`, written for this repository), read with
// the same discipline as a trait pack: every error names the file, the field and the value.
//
// Choosing the layer whose row is ablated everywhere: the paper scores each candidate by how much
// ablating it lowers the probability of refusal-opening tokens on harmful prompts, skipping the
// last fifth of the layers (too close to the unembedding). We do the same with the next-token
// distribution only (one prefill per candidate, no sampling).
import Foundation
import PersonaModel

public enum ContrastSetError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case notJSON(file: String, reason: String)
    case missing(file: String, field: String)
    case wrongType(file: String, field: String, expected: String)
    case badValue(file: String, field: String, value: String, problem: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read (\(reason))"
        case let .notJSON(file, reason): return "\(file): not a JSON object (\(reason))"
        case let .missing(file, field): return "\(file): field \"\(field)\" is missing"
        case let .wrongType(file, field, expected): return "\(file): field \"\(field)\" must be \(expected)"
        case let .badValue(file, field, value, problem): return "\(file): field \"\(field)\" = \(value.debugDescription): \(problem)"
        }
    }
}

/// Two lists of chat requests whose last-prompt-token activations are contrasted.
public struct RequestContrastSet: Equatable, Sendable {
    public var name: String
    public var description: String
    /// Requests the model is expected to refuse.
    public var harmful: [String]
    /// Matching requests it is expected to answer.
    public var harmless: [String]

    /// Fewest requests per side: a mean of fewer is mostly the requests' own content.
    public static let minimumCount = 4
    /// Longest request kept (characters): these are short chat requests, not documents.
    public static let maximumLength = 2_000

    /// The set in the repository, relative to the working directory.
    public static let defaultPath = "Directions/refusal.json"

    public init(name: String, description: String, harmful: [String], harmless: [String]) {
        self.name = name; self.description = description; self.harmful = harmful; self.harmless = harmless
    }

    /// Reads and validates a set file.
    public static func load(path: String) throws -> RequestContrastSet {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ContrastSetError.unreadable(
                file: path,
                reason: path == defaultPath
                    ? "run from the repository root or name the file with --requests" : error.localizedDescription)
        }
        return try parse(data, file: path)
    }

    /// Parses and validates set JSON; `file` names it in errors.
    public static func parse(_ data: Data, file: String) throws -> RequestContrastSet {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ContrastSetError.notJSON(file: file, reason: "\(error.localizedDescription)")
        }
        guard let root = object as? [String: Any] else { throw ContrastSetError.notJSON(file: file, reason: "the top level is not an object") }
        func text(_ field: String) throws -> String {
            guard let raw = root[field] else { throw ContrastSetError.missing(file: file, field: field) }
            guard let s = raw as? String else { throw ContrastSetError.wrongType(file: file, field: field, expected: "a string") }
            guard !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw ContrastSetError.badValue(file: file, field: field, value: s, problem: "must not be empty")
            }
            return s
        }
        func list(_ field: String) throws -> [String] {
            guard let raw = root[field] else { throw ContrastSetError.missing(file: file, field: field) }
            guard let items = raw as? [Any] else { throw ContrastSetError.wrongType(file: file, field: field, expected: "an array of strings") }
            var seen = Set<String>()
            let strings = try items.enumerated().map { i, item -> String in
                let name = "\(field)[\(i)]"
                guard let s = item as? String else { throw ContrastSetError.wrongType(file: file, field: name, expected: "a string") }
                guard !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                    throw ContrastSetError.badValue(file: file, field: name, value: s, problem: "must not be empty")
                }
                guard s.count <= maximumLength else {
                    throw ContrastSetError.badValue(
                        file: file, field: name, value: String(s.prefix(60)) + "…",
                        problem: "longer than \(maximumLength) characters")
                }
                guard seen.insert(s).inserted else { throw ContrastSetError.badValue(file: file, field: name, value: s, problem: "appears twice") }
                return s
            }
            guard strings.count >= minimumCount else {
                throw ContrastSetError.badValue(
                    file: file, field: field, value: "\(strings.count) requests",
                    problem: "needs at least \(minimumCount)")
            }
            return strings
        }
        let set = RequestContrastSet(
            name: try text("name"), description: try text("description"),
            harmful: try list("harmful"), harmless: try list("harmless"))
        if let both = set.harmful.first(where: Set(set.harmless).contains) {
            throw ContrastSetError.badValue(file: file, field: "harmless", value: both, problem: "also listed under \"harmful\"")
        }
        return set
    }
}

/// The refusal direction of one model.
public enum RefusalDirection {
    /// Where `persona vectors refusal` writes a model's direction by default, and where
    /// `--ablate refusal` looks for it.
    public static func defaultPath(modelName: String) -> String { "runs/refusal/\(modelName).safetensors" }

    /// Metadata key of the row that is ablated at every layer.
    public static let directionLayerKey = "persona.direction.layer"

    /// Last-prompt-token activations `[request][layer][hidden]` of chat prompts (user turn, generation prompt).
    public static func promptLastActivations(_ requests: [String], model: LanguageModel, batchSize: Int = 8) throws -> [[[Float]]] {
        let prompts = try requests.map { try model.chatPrompt(user: $0) }
        var out: [[[Float]]] = []
        var start = 0
        while start < prompts.count {
            let batch = Array(prompts[start..<min(start + max(batchSize, 1), prompts.count)])
            let capture = ActivationCaptureHook(config: model.config)
            for (i, p) in batch.enumerated() { capture.expect(id: i, promptLength: p.count) }
            try model.transformer.withHooks([capture]) {
                _ = try model.transformer.forward(
                    batch.enumerated().map { SequenceInput(tokens: $1, cache: model.transformer.makeCache(), id: $0) },
                    logits: .none)
            }
            for i in batch.indices {
                guard let s = capture.summary(for: i) else { throw SteeringError.zeroVector(what: "activations of request \(start + i)") }
                out.append(s.promptLast)
            }
            start += batch.count
        }
        return out
    }

    /// Per layer: mean(harmful) − mean(harmless), in double precision.
    public static func difference(harmful: [[[Float]]], harmless: [[[Float]]]) -> [[Float]] {
        guard let first = harmful.first ?? harmless.first else { return [] }
        func mean(_ xs: [[[Float]]], layer: Int) -> [Double] {
            var sum = [Double](repeating: 0, count: first[layer].count)
            for x in xs { for j in sum.indices { sum[j] += Double(x[layer][j]) } }
            return sum.map { $0 / Double(max(xs.count, 1)) }
        }
        return first.indices.map { l in zip(mean(harmful, layer: l), mean(harmless, layer: l)).map { Float($0 - $1) } }
    }

    /// First tokens of typical refusals ("I'm sorry…", "I cannot…", "As an AI…", "Sorry…").
    public static func refusalTokens(_ tokenizer: BPETokenizer) -> [Int] {
        Array(Set(["I", "As", "Sorry"].compactMap { tokenizer.encode($0).first }))
    }

    /// Mean over prompts of log P(first token ∈ refusal tokens), with `hooks` attached.
    public static func refusalScore(prompts: [[Int]], refusalTokens: [Int], model: LanguageModel, hooks: [LayerHook]) throws -> Double {
        let rows = try model.transformer.withHooks(hooks) {
            try model.transformer.forward(prompts.enumerated().map { SequenceInput(tokens: $1, cache: model.transformer.makeCache(), id: $0) })
        }
        var total = 0.0
        for logits in rows {
            let lp = LogProbabilities.logSoftmax(logits)
            let p = refusalTokens.reduce(0.0) { $0 + exp(Double(lp[$1])) }
            total += log(max(p, 1e-12))
        }
        return total / Double(max(rows.count, 1))
    }

    /// Result of `make`.
    public struct Result {
        public var vectors: TraitVectors
        /// Row ablated at every layer by `--ablate refusal`.
        public var chosenLayer: Int
        /// log P(refusal opening) on the harmful prompts: unablated, and per candidate layer ablated everywhere.
        public var baselineScore: Double
        public var candidateScores: [(layer: Int, score: Double)]
    }

    /// Computes the direction for every layer and chooses the row to ablate.
    /// `candidates` nil = layers from a fifth to four fifths of the depth.
    public static func make(
        set: RequestContrastSet, model: LanguageModel, candidates: [Int]? = nil,
        progress: (String) -> Void = { _ in }
    ) throws -> Result {
        let layerCount = model.config.layerCount
        progress("activations of \(set.harmful.count) harmful and \(set.harmless.count) harmless requests")
        let rows = difference(
            harmful: try promptLastActivations(set.harmful, model: model),
            harmless: try promptLastActivations(set.harmless, model: model))
        let layers = candidates ?? Array((layerCount / 5)..<max(layerCount / 5 + 1, (layerCount * 4) / 5))
        for l in layers where !(0..<layerCount).contains(l) { throw SteeringError.layerOutOfRange(layer: l, layerCount: layerCount) }
        let vectors = TraitVectors(
            rows: rows,
            metadata: model.vectorMetadata([
                "persona.trait": set.name, "persona.method": "prompt_last"
            ]))
        let prompts = try set.harmful.map { try model.chatPrompt(user: $0) }
        let tokens = refusalTokens(model.tokenizer)
        let baseline = try refusalScore(prompts: prompts, refusalTokens: tokens, model: model, hooks: [])
        var scores: [(layer: Int, score: Double)] = []
        for c in layers {
            let hooks = try ProjectionSpec(path: "refusal row \(c)", intervention: .ablate, directionLayer: c)
                .makeHooks(vectors: vectors, config: model.config)
            let s = try refusalScore(prompts: prompts, refusalTokens: tokens, model: model, hooks: hooks)
            progress(String(format: "layer %d: log P(refusal opening) %.3f (unablated %.3f)", c, s, baseline))
            scores.append((c, s))
        }
        let chosen = scores.min { $0.score < $1.score }?.layer ?? layerCount / 2
        var result = vectors
        result.metadata[directionLayerKey] = String(chosen)
        result.metadata["persona.refusal.scores"] = scores.map { String(format: "%d:%.4f", $0.layer, $0.score) }.joined(separator: ",")
        result.metadata["persona.refusal.baseline"] = String(format: "%.4f", baseline)
        return Result(vectors: result, chosenLayer: chosen, baselineScore: baseline, candidateScores: scores)
    }
}
