// What the store remembers about the run itself (table `run_info`: a name and a text value, the
// run's record under `run` and other stages' JSON records), the stage log (`stage_log`) and row
// counts.
import Foundation
import GRDB

/// A row of `run_info`.
struct InfoEntry: StoredRecord {
    static let databaseTableName = "run_info"
    static let databaseColumnEncodingStrategy = StoredColumns.strategy
    static let keyColumn = "name"
    var name: String
    var value: String
    init(row: Row) throws { self = try Self.decodeStored(row) }
    init(name: String, value: String) { self.name = name; self.value = value }
}

/// A row of `stage_log`: what one stage computed and reused in one invocation.
struct StageLogEntry: StoredRecord {
    static let databaseTableName = "stage_log"
    static let databaseColumnEncodingStrategy = StoredColumns.strategy
    static let keyColumn = "id"
    var invocation: String
    var stage: String
    var trait: String
    var computed: Int
    var reused: Int
    var at: Double
    init(row: Row) throws { self = try Self.decodeStored(row) }
    init(invocation: String, stage: String, trait: String, computed: Int, reused: Int, at: Double) {
        self.invocation = invocation; self.stage = stage; self.trait = trait; self.computed = computed; self.reused = reused; self.at = at
    }
}

extension RunStore {
    public func setInfo(_ name: String, _ value: String) throws {
        try db.write { db in try InfoEntry(name: name, value: value).store(db) }
    }

    public func info(_ name: String) throws -> String? {
        // The closure returns nothing: returning the value (or the entry) from it compiled to a
        // thunk that tail-jumps into memcpy, which Swift 6.3.1 emits without restoring the error
        // register (scripts/check-tail-calls.sh).
        var value: String?
        try db.read { db in
            value = try InfoEntry.fetchOne(db, sql: "SELECT name, value FROM run_info WHERE name = ?", arguments: [name])?.value
        }
        return value
    }

    public func allInfo() throws -> [String: String] {
        try db.read { db in
            Dictionary(try InfoEntry.fetchAll(db, sql: "SELECT name, value FROM run_info").map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// A Codable value under `name` (JSON).
    public func setInfo<T: Encodable>(_ name: String, json value: T) throws {
        try setInfo(name, try Self.json(value))
    }

    public func info<T: Decodable>(_ name: String, as type: T.Type) throws -> T? {
        guard let text = try info(name) else { return nil }
        return try Self.decode(T.self, json: text, name: name)
    }

    /// The JSON text a run_info value holds (sorted keys: the same value is the same text).
    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A run_info value decoded from its JSON text; an error naming the entry when it does not decode.
    static func decode<T: Decodable>(_ type: T.Type, json text: String, name: String) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(text.utf8)) } catch {
            throw RunStoreError.badValue(table: "run_info", column: "value", key: name, value: String(text.prefix(80)))
        }
    }

    /// Records what a stage computed and reused in one invocation.
    public func log(invocation: String, stage: String, trait: String, computed: Int, reused: Int) throws {
        try db.write { db in
            try StageLogEntry(invocation: invocation, stage: stage, trait: trait, computed: computed, reused: reused, at: Self.now).store(db, onConflict: nil)
        }
    }

    /// One invocation's stage log: (stage, trait, computed, reused) in order.
    public func stageLog(invocation: String) throws -> [(stage: String, trait: String, computed: Int, reused: Int)] {
        try db.read { db in
            try StageLogEntry.fetchAll(db, sql: "SELECT * FROM stage_log WHERE invocation = ? ORDER BY id", arguments: [invocation]).map {
                (stage: $0.stage, trait: $0.trait, computed: $0.computed, reused: $0.reused)
            }
        }
    }

    /// The tables `count(_:)` answers for.
    static let tables = [
        "answers", "scores", "activations", "pair_decisions", "vectors", "steering_results", "projections", "stage_log",
        "filter_runs", "trait_states", "behavior_results", "geometry"
    ]

    /// Row counts per table (progress displays, tests).
    public func count(_ table: String) throws -> Int {
        guard Self.tables.contains(table) else { throw RunStoreError.badValue(table: table, column: "-", key: "-", value: "unknown table") }
        return try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 }
    }
}
