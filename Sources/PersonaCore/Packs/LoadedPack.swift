// A trait pack as the engine uses it: the data, where it came from, its content hash (part of
// every stage's cache key) and its custom pair filters. The plugin host makes these from pack
// libraries, pack folders and the reference repo's trait JSON; the pipeline only reads them.
import Crypto
import Foundation

/// One candidate pair of the filter stage: the positive and negative answers to the same
/// question, instruction pair and sample index, with their judged scores (nil = no score).
public struct CandidatePair: Sendable, Equatable {
    public var question: String
    public var instructionIndex: Int
    public var sampleIndex: Int
    public var positiveAnswer: String
    public var negativeAnswer: String
    public var positiveTrait: Double?
    public var negativeTrait: Double?
    public var positiveCoherence: Double?
    public var negativeCoherence: Double?

    public init(
        question: String, instructionIndex: Int, sampleIndex: Int, positiveAnswer: String, negativeAnswer: String,
        positiveTrait: Double?, negativeTrait: Double?, positiveCoherence: Double?, negativeCoherence: Double?
    ) {
        self.question = question; self.instructionIndex = instructionIndex; self.sampleIndex = sampleIndex
        self.positiveAnswer = positiveAnswer; self.negativeAnswer = negativeAnswer
        self.positiveTrait = positiveTrait; self.negativeTrait = negativeTrait
        self.positiveCoherence = positiveCoherence; self.negativeCoherence = negativeCoherence
    }
}

/// A pack's custom filter: sees each candidate pair that passed the score thresholds and may
/// drop it with a reason (recorded in the run store).
public protocol PairFilter: AnyObject {
    /// The filter's name, shown with its reasons ("no-refusals").
    var name: String { get }
    /// nil keeps the pair; a string drops it, saying why.
    func dropReason(for pair: CandidatePair) throws -> String?
}

/// A pack ready for the pipeline.
public final class LoadedPack: @unchecked Sendable {
    public let pack: TraitPack
    /// Where it came from: a library path, a folder or a JSON file.
    public let source: String
    public let filters: [PairFilter]
    /// SHA-256 (hex) of the pack's canonical JSON: changes whenever any text of the pack changes.
    public let contentHash: String

    public init(pack: TraitPack, source: String, filters: [PairFilter] = [], filterIdentity: String = "") {
        self.pack = pack; self.source = source; self.filters = filters
        self.contentHash = pack.contentHash(extra: filterIdentity + filters.map(\.name).joined(separator: ","))
    }

    public var name: String { pack.name }
}

extension TraitPack {
    /// SHA-256 (hex) of the pack's JSON with sorted keys, plus `extra` (e.g. the filters' names and
    /// version): a stable identity of everything a run reads from the pack.
    /// The behavioural measure's items are left out (they change no stage but `behave`, whose keys
    /// carry `behaviorItemsHash`): adding or fixing them does not regenerate a run's answers.
    public func contentHash(extra: String = "") -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var withoutItems = self
        withoutItems.behaviorItems = nil
        var data = (try? encoder.encode(withoutItems)) ?? Data()  // encoding plain strings and arrays cannot fail
        data.append(contentsOf: Array(extra.utf8))
        return SHA256.hex(data)
    }

    /// SHA-256 (hex) of the behavioural items alone (the `behave` stage's cache keys).
    public var behaviorItemsHash: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return SHA256.hex((try? encoder.encode(behaviorItems ?? [])) ?? Data())
    }
}
