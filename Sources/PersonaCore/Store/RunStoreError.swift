// The run store's errors: each names the file, or the table, column and row, and says what to do.

public enum RunStoreError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case badBlob(table: String, column: String, key: String, bytes: Int, expected: Int)
    case badValue(table: String, column: String, key: String, value: String)
    case notARunStore(path: String)
    /// A stored value that is NULL, missing or of another type than its column's (a damaged store).
    case badColumn(table: String, column: String, row: String, found: String, expected: String)
    /// The store was migrated by a later version of persona.
    case laterSchema(path: String, migrations: [String])
    /// The file is an SQLite database with tables but without the schema record every run store has.
    case unknownSchema(path: String, tables: [String])
    /// Opened read-only, the store lacks schema steps this version would add (an earlier version
    /// wrote it), and migrating a copy in memory failed.
    case earlierSchema(path: String, missing: [String], reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "cannot open the run store \(path): \(reason)"
        case let .badBlob(table, column, key, bytes, expected):
            return "run store: \(table).\(column) of \(key) holds \(bytes) bytes, expected \(expected) (a damaged store: delete the run directory or the row)"
        case let .badValue(table, column, key, value): return "run store: \(table).\(column) of \(key) has the invalid value \(value)"
        case let .notARunStore(path): return "\(path) holds no run store (run.sqlite): run `persona run --out \(path) …` first"
        case let .badColumn(table, column, row, found, expected):
            return "run store: \(table).\(column) of \(row) holds \(found), expected \(expected) (a damaged store: delete the run directory or the row)"
        case let .laterSchema(path, migrations):
            return
                "\(path) was written by a later version of persona (schema steps \(migrations.joined(separator: ", ")) unknown here): open it with that version"
        case let .unknownSchema(path, tables):
            return
                "\(path) is not a persona run store or its schema record is damaged (tables \(tables.joined(separator: ", ")) but no grdb_migrations): it was left unchanged"
        case let .earlierSchema(path, missing, reason):
            return
                "\(path) was written by an earlier version of persona (schema steps \(missing.joined(separator: ", ")) not applied) and could not be read from a migrated copy (\(reason)): run any `persona stage … --run` on its run directory once to migrate it in place"
        }
    }
}
