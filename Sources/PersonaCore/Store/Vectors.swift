// Trait vectors (table `vectors`), steering results (`steering_results`) and projections
// (`projections`).
import Foundation
import GRDB

/// A stored trait vector: [layers][hidden].
public struct VectorRecord: Equatable, Sendable {
    public var key: String
    public var trait: String
    public var method: String
    public var filterKey: String
    public var pairCount: Int
    public var rows: [[Float]]
    public var model: String

    public init(key: String, trait: String, method: String, filterKey: String, pairCount: Int, rows: [[Float]], model: String) {
        self.key = key; self.trait = trait; self.method = method; self.filterKey = filterKey
        self.pairCount = pairCount; self.rows = rows; self.model = model
    }
}

/// Mean judged scores of steered answers at one layer and coefficient; a row of `steering_results`.
public struct SteeringResultRecord: Equatable, Sendable, Codable {
    public var key: String
    public var trait: String
    public var vectorKey: String
    public var layer: Int
    public var coefficient: Double
    public var positions: String
    public var meanTrait: Double?
    public var meanCoherence: Double?
    public var scoredCount: Int
    public var answerCount: Int
}

/// Which answers a monitoring projection belongs to. Ordered as the report shows them: the
/// unsteered baseline, the negative and positive system prompts, then steering by coefficient.
public enum ProjectionCondition: Hashable, Sendable, Comparable {
    case baseline
    case negativePrompt
    case positivePrompt
    case steered(coefficient: Double)

    /// The stored text of the condition column (a steered row keeps its coefficient in a column of
    /// its own).
    enum Kind: String, Codable {
        case baseline, negativePrompt = "negative prompt", positivePrompt = "positive prompt", steered
    }

    var kind: Kind {
        switch self {
        case .baseline: return .baseline
        case .negativePrompt: return .negativePrompt
        case .positivePrompt: return .positivePrompt
        case .steered: return .steered
        }
    }

    /// "baseline", "negative prompt", "positive prompt", "steered +2": the report's label.
    public var label: String {
        guard case let .steered(c) = self else { return kind.rawValue }
        let text = c == c.rounded() && abs(c) < 1e15 ? String(Int(c)) : String(c)
        return "steered " + (c > 0 ? "+" + text : text)
    }

    public static func < (a: Self, b: Self) -> Bool {
        func rank(_ c: Self) -> (Int, Double) {
            switch c {
            case .baseline: return (0, 0)
            case .negativePrompt: return (1, 0)
            case .positivePrompt: return (2, 0)
            case let .steered(coefficient): return (3, coefficient)
            }
        }
        return rank(a) < rank(b)
    }
}

/// One projection value; a row of `projections` (the condition is two columns: `condition`, and
/// `coefficient` for steered rows, NULL otherwise).
public struct ProjectionRecord: Equatable, Sendable, Codable {
    public var trait: String
    public var vectorKey: String
    public var layer: Int
    public var answerKey: String
    public var condition: ProjectionCondition
    /// "response_mean" or "prompt_last".
    public var source: String
    public var value: Double

    public init(trait: String, vectorKey: String, layer: Int, answerKey: String, condition: ProjectionCondition, source: String, value: Double) {
        self.trait = trait; self.vectorKey = vectorKey; self.layer = layer; self.answerKey = answerKey
        self.condition = condition; self.source = source; self.value = value
    }

    enum CodingKeys: String, CodingKey {
        case trait, vectorKey, layer, answerKey, condition, coefficient, source, value
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        trait = try c.decode(String.self, forKey: .trait)
        vectorKey = try c.decode(String.self, forKey: .vectorKey)
        layer = try c.decode(Int.self, forKey: .layer)
        answerKey = try c.decode(String.self, forKey: .answerKey)
        source = try c.decode(String.self, forKey: .source)
        value = try c.decode(Double.self, forKey: .value)
        let coefficient = try c.decodeIfPresent(Double.self, forKey: .coefficient)
        switch try c.decode(ProjectionCondition.Kind.self, forKey: .condition) {
        case .baseline: condition = .baseline
        case .negativePrompt: condition = .negativePrompt
        case .positivePrompt: condition = .positivePrompt
        case .steered:
            guard let coefficient, coefficient.isFinite else {
                throw RunStoreError.badValue(
                    table: "projections", column: "coefficient", key: answerKey,
                    value: coefficient.map { "\($0) (a steered row needs a finite coefficient)" } ?? "NULL (a steered row needs its coefficient)")
            }
            condition = .steered(coefficient: coefficient)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(trait, forKey: .trait)
        try c.encode(vectorKey, forKey: .vectorKey)
        try c.encode(layer, forKey: .layer)
        try c.encode(answerKey, forKey: .answerKey)
        try c.encode(condition.kind, forKey: .condition)
        if case let .steered(coefficient) = condition {
            try c.encode(coefficient, forKey: .coefficient)
        } else {
            try c.encodeNil(forKey: .coefficient)
        }
        try c.encode(source, forKey: .source)
        try c.encode(value, forKey: .value)
    }
}

/// A row of `vectors`: a vector's [layers][hidden] rows as one float32 blob.
struct StoredVector: StoredRecord {
    static let databaseTableName = "vectors"
    static let databaseColumnEncodingStrategy = StoredColumns.strategy
    static let keyColumn = "key"
    var key: String
    var trait: String
    var method: String
    var filterKey: String
    var layers: Int
    var hidden: Int
    var pairCount: Int
    var data: Data
    var model: String

    init(row: Row) throws { self = try Self.decodeStored(row) }

    init(_ v: VectorRecord) {
        key = v.key; trait = v.trait; method = v.method; filterKey = v.filterKey
        layers = v.rows.count; hidden = v.rows.first?.count ?? 0; pairCount = v.pairCount
        data = FloatBlob.encode(rows: v.rows); model = v.model
    }

    func vector() throws -> VectorRecord {
        guard layers > 0, hidden > 0, layers <= 4096, hidden <= 1 << 20 else {
            throw RunStoreError.badValue(table: "vectors", column: "layers/hidden", key: key, value: "\(layers)/\(hidden)")
        }
        let rows = try FloatBlob.decode(rows: data, rows: layers, width: hidden, table: "vectors", column: "data", key: key)
        return VectorRecord(key: key, trait: trait, method: method, filterKey: filterKey, pairCount: pairCount, rows: rows, model: model)
    }
}

extension SteeringResultRecord: FetchableRecord, PersistableRecord, StoredRecord {
    public static let databaseTableName = "steering_results"
    public static let databaseColumnEncodingStrategy = StoredColumns.strategy
    static let keyColumn = "key"
    public init(row: Row) throws { self = try Self.decodeStored(row) }
}

extension ProjectionRecord: FetchableRecord, PersistableRecord, StoredRecord {
    public static let databaseTableName = "projections"
    public static let databaseColumnEncodingStrategy = StoredColumns.strategy
    static let keyColumn = "answer_key"
    public init(row: Row) throws { self = try Self.decodeStored(row) }
}

extension RunStore {
    public func insert(vector v: VectorRecord) throws {
        try db.write { db in try StoredVector(v).store(db, extra: ["created_at": Self.now.databaseValue]) }
    }

    public func vector(key: String) throws -> VectorRecord? {
        try db.read { db in try StoredVector.fetchOne(db, sql: "SELECT * FROM vectors WHERE key = ?", arguments: [key])?.vector() }
    }

    public func allVectors() throws -> [VectorRecord] {
        try db.read { db in try StoredVector.fetchAll(db, sql: "SELECT * FROM vectors ORDER BY key").map { try $0.vector() } }
    }

    public func insert(steeringResult r: SteeringResultRecord) throws {
        try db.write { db in try r.store(db, extra: ["created_at": Self.now.databaseValue]) }
    }

    public func steeringResult(key: String) throws -> SteeringResultRecord? {
        try db.read { db in try SteeringResultRecord.fetchOne(db, sql: "SELECT * FROM steering_results WHERE key = ?", arguments: [key]) }
    }

    public func insert(projections: [ProjectionRecord]) throws {
        try db.write { db in
            for p in projections { try p.store(db) }
        }
    }

    public func projections(vectorKey: String, layer: Int) throws -> [ProjectionRecord] {
        try db.read { db in
            try ProjectionRecord.fetchAll(
                db, sql: "SELECT * FROM projections WHERE vector_key = ? AND layer = ? ORDER BY condition, coefficient, answer_key",
                arguments: [vectorKey, layer])
        }
    }
}
