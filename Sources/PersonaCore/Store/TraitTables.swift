// A trait's latest state (table `trait_states`, one row per trait), the behavioural measure's
// results (`behavior_results`, one row per cache key) and the traits' geometry (`geometry`, one row).
//
// The tables' columns are the types' coding keys (TraitState in Pipeline.swift, BehaviorResult in
// BehaviorStage.swift, Geometry in ReportData.swift): a property added to one of them needs a
// schema step adding its column (RunStoreSchema.swift). Arrays, dictionaries and nested structs
// are JSON text in their column, as the types encode them.
import Foundation
import GRDB

extension TraitState: FetchableRecord, PersistableRecord, StoredRecord {
    public static let databaseTableName = "trait_states"
    public static let databaseColumnEncodingStrategy = StoredColumns.strategy
    static let keyColumn = "trait"
    public init(row: Row) throws { self = try Self.decodeStored(row) }
}

extension BehaviorResult: FetchableRecord, PersistableRecord, StoredRecord {
    public static let databaseTableName = "behavior_results"
    public static let databaseColumnEncodingStrategy = StoredColumns.strategy
    static let keyColumn = "key"
    public init(row: Row) throws { self = try Self.decodeStored(row) }
}

extension Geometry: FetchableRecord, PersistableRecord, StoredRecord {
    public static let databaseTableName = "geometry"
    public static let databaseColumnEncodingStrategy = StoredColumns.strategy
    static let keyColumn = "id"
    public init(row: Row) throws { self = try Self.decodeStored(row) }
}

extension RunStore {
    /// The latest state of `trait`'s results (nil before a stage stored one).
    public func traitState(_ trait: String) throws -> TraitState? {
        try db.read { db in try TraitState.fetchOne(db, sql: "SELECT * FROM trait_states WHERE trait = ?", arguments: [trait]) }
    }

    public func save(traitState: TraitState, trait: String) throws {
        try db.write { db in try traitState.store(db, extra: ["trait": trait.databaseValue]) }
    }

    /// The behavioural measure's result under `key`.
    public func behaviorResult(key: String) throws -> BehaviorResult? {
        try db.read { db in try BehaviorResult.fetchOne(db, sql: "SELECT * FROM behavior_results WHERE key = ?", arguments: [key]) }
    }

    public func insert(behaviorResult r: BehaviorResult) throws {
        try db.write { db in try r.store(db) }
    }

    /// Cosine similarity between the traits' vectors, as the geometry stage last computed it.
    public func geometry() throws -> Geometry? {
        try db.read { db in try Geometry.fetchOne(db, sql: "SELECT * FROM geometry WHERE id = 1") }
    }

    public func save(geometry: Geometry) throws {
        try db.write { db in try geometry.store(db, extra: ["id": Int64(1).databaseValue]) }
    }
}
