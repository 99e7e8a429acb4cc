// The run store (DESIGN.md, "Run store and artifacts"): one SQLite database per run directory
// (`runs/NAME/run.sqlite`), through GRDB. Every answer, score, activation summary, pair decision,
// vector, steering result and projection is committed in its own small transaction as soon as it
// exists, so a killed run (even `kill -9`) loses at most the items in flight. WAL journal: readers
// (a report, a test) never block the writer, and a crash never corrupts what was committed.
//
// This file opens a store and checks it; the schema and its steps are in RunStoreSchema.swift, the
// records and their queries in one file per concern (Answers, Scores, Vectors, TraitTables,
// StoreInfo), reading and writing records in StoredRow.swift.
import Foundation
import GRDB

/// The run store of one run directory.
public final class RunStore: @unchecked Sendable {
    public let path: String
    /// One WAL-mode connection for a store that is written; a read-only one for a store that is only
    /// read (or a read-only copy in memory, `migratedCopy`).
    let db: any DatabaseWriter

    /// The database file of a run directory.
    public static func databasePath(runDirectory: String) -> String {
        URL(fileURLWithPath: runDirectory).appendingPathComponent("run.sqlite").path
    }

    /// Opens (creating if needed) the store at `path`. `readOnly` opens an existing store without
    /// ever writing to it (reports, peeking at a run's settings).
    ///
    /// An existing file is checked through a read-only connection first: it must be an SQLite
    /// database whose schema record names only steps this version knows. Migrating writes to the
    /// file, so a file that fails these checks is refused before that and keeps its bytes; a store
    /// that is up to date is not written by opening it. A store of an earlier schema is migrated in
    /// place when opened to be written, and read from a migrated copy in memory when opened
    /// read-only (the file stays as it is until a stage opens it).
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        do {
            let exists = FileManager.default.fileExists(atPath: path)
            let missing = try exists ? Self.checkBeforeOpening(path: path, readOnly: readOnly) : []
            if readOnly {
                guard exists else { throw RunStoreError.notARunStore(path: path) }
                var config = Configuration()
                config.readonly = true
                config.busyMode = .timeout(30)
                let file = try DatabaseQueue(path: path, configuration: config)
                db = try missing.isEmpty ? file : Self.migratedCopy(of: file, path: path, missing: missing)
                return
            }
            try FileManager.default.createDirectory(at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
            var config = Configuration()
            config.busyMode = .timeout(30)
            // Crash-safe in WAL mode and cheaper per commit, as GRDB's pools set it.
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            // One connection in WAL mode, not a GRDB pool: a pool opening a file without a non-empty
            // -wal beside it creates and drops a table (its probe for GRDB issue 102), which rewrites
            // the header of every store a stage opens, also of one whose damage a stage finds later.
            // WAL is set once, on a new file (the mode persists in the file); other processes still
            // read while this one writes.
            let queue = try DatabaseQueue(path: path, configuration: config)
            if try queue.read({ try String.fetchOne($0, sql: "PRAGMA journal_mode") }) != "wal" {
                try queue.writeWithoutTransaction { db in
                    guard try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") == "wal" else {
                        throw RunStoreError.cannotOpen(path: path, reason: "could not switch the store to WAL mode")
                    }
                }
            }
            db = queue
            // Each schema step runs in its own transaction: a step that fails (a damaged record it
            // moves) leaves the store as the previous step left it.
            try Self.migrator.migrate(db)
        } catch let error as DatabaseError {
            throw RunStoreError.cannotOpen(path: path, reason: error.message ?? error.description)
        }
    }

    /// The read-only checks an existing file passes before anything may write to it. Returns the
    /// schema steps the file lacks (none for a new, empty database).
    static func checkBeforeOpening(path: String, readOnly: Bool) throws -> [String] {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(30)
        let queue = try DatabaseQueue(path: path, configuration: config)
        let migrator = Self.migrator
        return try queue.read { db in
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            if tables.isEmpty {
                if readOnly { throw RunStoreError.notARunStore(path: path) }
                return []  // an empty database (a store created but never migrated): migrating is safe
            }
            guard tables.contains("grdb_migrations") else { throw RunStoreError.unknownSchema(path: path, tables: tables) }
            let applied = try migrator.appliedIdentifiers(db)
            // Checked before migrating: migrating a later schema would write to a store this
            // version cannot read.
            let unknown = applied.subtracting(migrator.migrations)
            if !unknown.isEmpty { throw RunStoreError.laterSchema(path: path, migrations: unknown.sorted()) }
            return migrator.migrations.filter { !applied.contains($0) }
        }
    }

    /// A store of an earlier schema opened read-only: a copy in memory, migrated there, then read
    /// through a connection opened read-only. It costs the file's size in memory, once per open,
    /// until a stage opening the store to write migrates the file itself. SQLite does not enforce
    /// the read-only flag on a shared in-memory database: nothing writes to a store opened
    /// read-only, and a write would reach the copy (and be lost), never the file.
    static func migratedCopy(of file: DatabaseQueue, path: String, missing: [String]) throws -> DatabaseQueue {
        do {
            // A named in-memory database lives while a connection to it is open: this one to copy and
            // migrate, then the read-only one returned.
            let name = "persona-run-store-" + UUID().uuidString
            let copy = try DatabaseQueue(named: name)
            // The backup copies pages as they are: the copy takes the file's page size.
            let pageSize = try file.read { try Int.fetchOne($0, sql: "PRAGMA page_size") } ?? 4096
            try copy.writeWithoutTransaction { try $0.execute(sql: "PRAGMA page_size = \(pageSize)") }
            try file.backup(to: copy)
            try migrator.migrate(copy)
            var config = Configuration()
            config.readonly = true
            return try DatabaseQueue(named: name, configuration: config)
        } catch let error as DatabaseError {
            throw RunStoreError.earlierSchema(path: path, missing: missing, reason: error.message ?? error.description)
        }
    }

    /// Opens the store of an existing run directory (an error when there is none).
    public static func open(runDirectory: String, readOnly: Bool = false) throws -> RunStore {
        let path = databasePath(runDirectory: runDirectory)
        guard FileManager.default.fileExists(atPath: path) else { throw RunStoreError.notARunStore(path: runDirectory) }
        return try RunStore(path: path, readOnly: readOnly)
    }

    /// Row count of `table` in the store at `path`, read-only, without creating or migrating
    /// anything (watching a run another process writes); nil when the store or table is not there yet.
    public static func peekCount(path: String, table: String) -> Int? {
        guard FileManager.default.fileExists(atPath: path), table.allSatisfy({ $0.isLetter || $0 == "_" }) else { return nil }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(5)
        guard let queue = try? DatabaseQueue(path: path, configuration: config) else { return nil }
        return try? queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM \(table)") }
    }

    static var now: Double { Date().timeIntervalSince1970 }
}
