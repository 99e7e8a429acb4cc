// Judged scores (table `scores`) and the filter stage's pair decisions (`pair_decisions`, with one
// `filter_runs` row per complete filter run).
import Foundation
import GRDB

/// Which score of an answer.
public enum ScoreKind: String, Codable, Sendable, CaseIterable {
    case trait
    case coherence
}

/// One judged score; a row of `scores`.
public struct ScoreRecord: Equatable, Sendable, Codable {
    public var key: String
    public var answerKey: String
    public var kind: ScoreKind
    public var score: Double?
    public var noScoreReason: String?
    public var numberMass: Double
    /// The judge's cache identity.
    public var judge: String

    public init(key: String, answerKey: String, kind: ScoreKind, score: Double?, noScoreReason: String?, numberMass: Double, judge: String) {
        self.key = key; self.answerKey = answerKey; self.kind = kind; self.score = score
        self.noScoreReason = noScoreReason; self.numberMass = numberMass; self.judge = judge
    }
}

/// One pair's fate in the filter stage; a row of `pair_decisions` (with its filter run's key and trait).
public struct PairDecision: Equatable, Sendable, Codable {
    public var questionIndex: Int
    public var instructionIndex: Int
    public var sampleIndex: Int
    public var positiveKey: String
    public var negativeKey: String
    public var kept: Bool
    /// Why the pair was dropped (nil when kept).
    public var reason: String?

    public init(questionIndex: Int, instructionIndex: Int, sampleIndex: Int, positiveKey: String, negativeKey: String, kept: Bool, reason: String?) {
        self.questionIndex = questionIndex; self.instructionIndex = instructionIndex; self.sampleIndex = sampleIndex
        self.positiveKey = positiveKey; self.negativeKey = negativeKey; self.kept = kept; self.reason = reason
    }
}

extension ScoreRecord: FetchableRecord, PersistableRecord, StoredRecord {
    public static let databaseTableName = "scores"
    public static let databaseColumnEncodingStrategy = StoredColumns.strategy
    static let keyColumn = "key"
    public init(row: Row) throws { self = try Self.decodeStored(row) }
}

extension PairDecision: FetchableRecord, PersistableRecord, StoredRecord {
    public static let databaseTableName = "pair_decisions"
    public static let databaseColumnEncodingStrategy = StoredColumns.strategy
    static let keyColumn = "positive_key"
    public init(row: Row) throws { self = try Self.decodeStored(row) }
}

/// A row of `filter_runs`: a filter run whose decisions are all stored.
struct FilterRun: StoredRecord {
    static let databaseTableName = "filter_runs"
    static let databaseColumnEncodingStrategy = StoredColumns.strategy
    static let keyColumn = "filter_key"
    var filterKey: String
    var trait: String
    var total: Int
    var kept: Int
    init(row: Row) throws { self = try Self.decodeStored(row) }
    init(filterKey: String, trait: String, total: Int, kept: Int) { self.filterKey = filterKey; self.trait = trait; self.total = total; self.kept = kept }
}

extension RunStore {
    public func insert(scores: [ScoreRecord]) throws {
        try db.write { db in
            for s in scores { try s.store(db, extra: ["created_at": Self.now.databaseValue]) }
        }
    }

    /// The stored scores among `keys`, by key.
    public func scores(keys: [String]) throws -> [String: ScoreRecord] {
        let found = try db.read { db in try ScoreRecord.fetchAll(db, where: "key", among: keys) }
        return Dictionary(found.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Every score of one answer.
    public func scores(answerKey: String) throws -> [ScoreRecord] {
        try db.read { db in try ScoreRecord.fetchAll(db, sql: "SELECT * FROM scores WHERE answer_key = ? ORDER BY key", arguments: [answerKey]) }
    }

    public func allScores() throws -> [ScoreRecord] {
        try db.read { db in try ScoreRecord.fetchAll(db, sql: "SELECT * FROM scores ORDER BY key") }
    }

    /// Stores a filter run's decisions, all at once (a filter run is complete or absent).
    public func insert(filterKey: String, trait: String, decisions: [PairDecision]) throws {
        try db.write { db in
            try db.execute(sql: "DELETE FROM pair_decisions WHERE filter_key = ?", arguments: [filterKey])
            for d in decisions {
                try d.store(db, extra: ["filter_key": filterKey.databaseValue, "trait": trait.databaseValue], onConflict: nil)
            }
            try FilterRun(filterKey: filterKey, trait: trait, total: decisions.count, kept: decisions.filter(\.kept).count)
                .store(db, extra: ["created_at": Self.now.databaseValue])
        }
    }

    /// A complete filter run's decisions, or nil when it never finished.
    public func decisions(filterKey: String) throws -> [PairDecision]? {
        try db.read { db in
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM filter_runs WHERE filter_key = ?", arguments: [filterKey]) != nil else { return nil }
            return try PairDecision.fetchAll(
                db,
                sql: """
                    SELECT * FROM pair_decisions WHERE filter_key = ? ORDER BY question_index, instruction_index, sample_index
                    """, arguments: [filterKey])
        }
    }
}
