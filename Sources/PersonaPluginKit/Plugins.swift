// What a Swift plugin implements: one protocol per kind, with Swift values instead of C structs.
// PluginExports (Exports.swift) turns them into descriptors and C function tables.
import PersonaABI
import Foundation

// MARK: Autorater

/// One thing to judge.
public struct JudgeItem: Sendable {
    public var question: String
    public var answer: String
    /// The eval prompt with placeholders, as the pack wrote it.
    public var evalPrompt: String
    /// The eval prompt with `{question}` and `{answer}` filled by the host: send this.
    public var renderedPrompt: String
    public init(question: String, answer: String, evalPrompt: String, renderedPrompt: String) {
        self.question = question; self.answer = answer; self.evalPrompt = evalPrompt; self.renderedPrompt = renderedPrompt
    }
}

/// A verdict: a score 0–100 or a reason for having none, the mass on numbers, the top alternatives.
public struct JudgeVerdict: Sendable {
    public var score: Double?
    public var noScoreReason: String?
    public var numberMass: Double
    public var alternatives: [(text: String, probability: Double)]
    public init(score: Double?, noScoreReason: String?, numberMass: Double, alternatives: [(text: String, probability: Double)] = []) {
        self.score = score; self.noScoreReason = noScoreReason; self.numberMass = numberMass; self.alternatives = alternatives
    }
}

/// An autorater: scores a batch, results in item order. Throw only when the whole batch fails.
public protocol AutoraterPlugin: AnyObject {
    /// Name, version, model, configuration without secrets.
    var identity: String { get }
    func score(_ items: [JudgeItem], progress: (Int) -> Void) throws -> [JudgeVerdict]
}

// MARK: Hook

/// The rows of one sequence in a pass.
public struct HookSpan: Sendable {
    public var sequenceID: Int64
    public var firstRow: Int
    public var rowCount: Int
    public var startPosition: Int
    public var isPrefill: Bool
}

/// The residual stream after block `layer`, `[rowCount, hiddenSize]`, mutable.
public struct HookStream {
    public var layer: Int
    public var hiddenSize: Int
    public var rowCount: Int
    public var data: UnsafeMutablePointer<Float>
    public var spans: [HookSpan]
    public func row(_ r: Int) -> UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data + r * hiddenSize, count: hiddenSize) }
}

/// A hook: sees (and may change) the residual stream of the layers it asks for.
public protocol HookPlugin: AnyObject {
    /// nil = every layer.
    var layers: [Int]? { get }
    func process(_ stream: HookStream) throws
}

// MARK: Trait pack

/// A candidate pair as a pack's filter sees it (nil score = no score).
public struct PairView: Sendable {
    public var question: String
    public var instructionIndex: Int
    public var sampleIndex: Int
    public var positiveAnswer: String
    public var negativeAnswer: String
    public var positiveTrait: Double?
    public var negativeTrait: Double?
    public var positiveCoherence: Double?
    public var negativeCoherence: Double?
}

/// A custom filter of a pack: returns nil to keep a pair, or the reason to drop it.
public struct PackFilter {
    public var name: String
    public var dropReason: (PairView) throws -> String?
    public init(name: String, dropReason: @escaping (PairView) throws -> String?) { self.name = name; self.dropReason = dropReason }
}

/// A trait pack: its data as pack.json text, and its filters.
public protocol TraitPackPlugin: AnyObject {
    var packJSON: String { get }
    var filters: [PackFilter] { get }
}

/// A trait pack from embedded JSON and filters (what every pack folder's library uses).
public final class EmbeddedTraitPack: TraitPackPlugin {
    public let packJSON: String
    public let filters: [PackFilter]
    public init(packJSON: String, filters: [PackFilter] = []) { self.packJSON = packJSON; self.filters = filters }
}

// MARK: Text helpers for filters

public enum AnswerText {
    /// True when the answer declines to answer ("I can't…", "I'm sorry, but…", "As an AI…").
    public static func looksLikeRefusal(_ text: String) -> Bool {
        let lower = text.lowercased().replacingOccurrences(of: "’", with: "'")
        let head = String(lower.prefix(200))
        let markers = [
            "i can't", "i cannot", "i can not", "i won't", "i will not", "i'm sorry, but", "i am sorry, but",
            "i'm unable", "i am unable", "as an ai", "i'm not able", "i am not able", "i must decline",
            "i refuse", "i'm not comfortable", "i am not comfortable"
        ]
        return markers.contains { head.contains($0) }
    }

    /// True when the answer admits it does not know or that the thing does not exist.
    public static func admitsIgnorance(_ text: String) -> Bool {
        let lower = String(text.lowercased().replacingOccurrences(of: "’", with: "'").prefix(300))
        let markers = [
            "i don't know", "i do not know", "i'm not aware", "i am not aware", "i'm not familiar",
            "i am not familiar", "i don't have information", "i do not have information", "no information",
            "doesn't exist", "does not exist", "not a real", "isn't a real", "there is no record",
            "i couldn't find", "i could not find", "i'm not sure", "i am not sure", "fictional", "i don't have any"
        ]
        return markers.contains { lower.contains($0) }
    }

    /// Lowercased words (letters and digits), for overlap measures.
    public static func words(_ text: String) -> [String] {
        text.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init)
    }
}
