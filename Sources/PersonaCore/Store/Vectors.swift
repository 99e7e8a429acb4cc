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

/// One projection value; a row of `projections`.
public struct ProjectionRecord: Equatable, Sendable, Codable {
    public var trait: String
    public var vectorKey: String
    public var layer: Int
    public var answerKey: String
    /// "baseline", "positive prompt", "negative prompt", "steered +2", …
    public var condition: String
    /// "response_mean" or "prompt_last".
    public var source: String
    public var value: Double
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
            try ProjectionRecord.fetchAll(db, sql: "SELECT * FROM projections WHERE vector_key = ? AND layer = ? ORDER BY condition, answer_key",
                                          arguments: [vectorKey, layer])
        }
    }
}
