// Reading and writing the store's records through their Codable conformance, without ever trapping
// on a damaged file.
//
// A record type is a GRDB record (`FetchableRecord`, `PersistableRecord`) whose coding keys are its
// table's columns: a key's column is the key in snake_case (`questionIndex` → `question_index`;
// a `CodingKeys` raw value names a column that is not its property's name). Scalars are columns of
// their own SQLite type; arrays, dictionaries and nested structs are JSON text in one column.
//
// Writing uses GRDB's encoder as it is. Reading does not use GRDB's row decoder: GRDB 7.10 decodes
// a Decodable record by its non-throwing conversions in places (a TEXT read as an integer through
// `sqlite3_column_int64` is 0, a REAL is truncated), and its non-optional subscripts are `try!`.
// `StoredRowDecoder` reads every column through `StoredRow`, whose errors name the table, the
// column and the row (`RunStoreError.badColumn`, `.badValue`).
import Foundation
import GRDB

/// A record of the run store: a Codable GRDB record whose coding keys are its columns.
protocol StoredRecord: Codable, FetchableRecord, PersistableRecord {
    /// The column whose value names a row in errors.
    static var keyColumn: String { get }
}

extension StoredRecord {
    /// Decodes a row of this record's table with errors (the conformances' `init(row:)` call it).
    static func decodeStored(_ row: Row) throws -> Self {
        try StoredRowDecoder.decode(Self.self, from: StoredRow(row, table: databaseTableName, keyColumn: keyColumn))
    }

    /// Stores the record (by default replacing a row with the same primary key), with `extra`
    /// columns the type does not hold (its key in a table keyed by something else, `created_at`).
    func store(_ db: Database, extra: [String: DatabaseValue] = [:], onConflict: Database.ConflictResolution? = .replace) throws {
        try WithColumns(record: self, extra: extra).insert(db, onConflict: onConflict)
    }

    /// Records whose `column` is one of `values`, fetched in chunks of bound parameters
    /// (`answers(keys:)`, `scores(keys:)`).
    static func fetchAll(_ db: Database, where column: String, among values: [String]) throws -> [Self] {
        var out: [Self] = []
        for chunk in values.chunked(500) {
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
            out += try fetchAll(db, sql: "SELECT * FROM \(databaseTableName) WHERE \(column) IN (\(marks))", arguments: StatementArguments(chunk))
        }
        return out
    }
}

/// The column of a coding key (also the column encoding strategy of every record).
enum StoredColumns {
    static func name(for key: any CodingKey) -> String { snakeCase(key.stringValue) }

    static let strategy = DatabaseColumnEncodingStrategy.custom { StoredColumns.name(for: $0) }

    /// `promptLastCorrelation` → `prompt_last_correlation`; a name in snake_case stays as it is.
    static func snakeCase(_ name: String) -> String {
        var out = ""
        for c in name {
            if c.isUppercase {
                if !out.isEmpty { out.append("_") }
                out += c.lowercased()
            } else {
                out.append(c)
            }
        }
        return out
    }
}

/// A record with columns its type does not hold.
private struct WithColumns<Record: StoredRecord>: PersistableRecord {
    static var databaseTableName: String { Record.databaseTableName }
    var record: Record
    var extra: [String: DatabaseValue]

    func encode(to container: inout PersistenceContainer) throws {
        try record.encode(to: &container)
        for (column, value) in extra { container[column] = value }
    }
}

/// One stored row read with errors. GRDB's non-optional row subscripts stop the process on a NULL,
/// a missing column or a value of another type; a damaged or hand-edited store must give an error
/// naming the table, the column and the row instead.
struct StoredRow {
    /// The row's values by column, read once (a row of a fetch cursor reads SQLite at every access).
    let values: [String: DatabaseValue]
    let table: String
    /// Names the row in errors: its key column and that column's value.
    let id: String
    /// The key column's value (`badValue` errors name it alone).
    let key: String

    init(_ row: Row, table: String, keyColumn: String) {
        values = Dictionary(row.map { ($0.0, $0.1) }, uniquingKeysWith: { first, _ in first })
        self.table = table
        switch values[keyColumn]?.storage {
        case let .string(s)?: id = "\(keyColumn) \(s.prefix(64))"; key = String(s.prefix(64))
        case let .int64(i)?: id = "\(keyColumn) \(i)"; key = String(i)
        default: id = "a row with an unreadable \(keyColumn)"; key = "a row with an unreadable \(keyColumn)"
        }
    }

    /// The column's value, or nil when the column is not there.
    private func value(_ column: String) -> DatabaseValue? { values[column] }

    func get<T: DatabaseValueConvertible>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let v = try optional(column, as: T.self) else {
            throw RunStoreError.badColumn(table: table, column: column, row: id, found: "NULL", expected: Self.expected(T.self))
        }
        return v
    }

    /// nil for NULL; an error for a missing column or a value of another type.
    func optional<T: DatabaseValueConvertible>(_ column: String, as type: T.Type = T.self) throws -> T? {
        guard let v = value(column) else {
            throw RunStoreError.badColumn(table: table, column: column, row: id, found: "no such column", expected: Self.expected(T.self))
        }
        if v.isNull { return nil }
        // GRDB converts REAL to an integer type by truncating (2.5 would read as 2): a REAL in an
        // integer column must hold a whole number.
        if case let .double(d) = v.storage, T.self is any BinaryInteger.Type, d.rounded(.towardZero) != d {
            throw RunStoreError.badColumn(table: table, column: column, row: id, found: Self.describe(v), expected: Self.expected(T.self))
        }
        // GRDB converts between INTEGER and REAL but not from TEXT or BLOB to numbers.
        guard let decoded = T.fromDatabaseValue(v) else {
            throw RunStoreError.badColumn(table: table, column: column, row: id, found: Self.describe(v), expected: Self.expected(T.self))
        }
        return decoded
    }

    /// Whether the column holds NULL (an error when the column is not there).
    func isNull(_ column: String) throws -> Bool {
        guard let v = value(column) else {
            throw RunStoreError.badColumn(table: table, column: column, row: id, found: "no such column", expected: "a value")
        }
        return v.isNull
    }

    /// The column's value as text for an error message.
    func text(_ column: String) -> String {
        guard let v = value(column) else { return "(no such column)" }
        if case let .string(s) = v.storage { return String(s.prefix(80)) }
        return Self.describe(v)
    }

    static func expected<T>(_ type: T.Type) -> String {
        switch type {
        case is String.Type: return "TEXT"
        case is Data.Type: return "a BLOB"
        case is Double.Type, is Float.Type: return "a REAL number"
        case is Bool.Type: return "an INTEGER 0 or 1"
        default: return "an INTEGER"
        }
    }

    static func describe(_ v: DatabaseValue) -> String {
        switch v.storage {
        case .null: return "NULL"
        case let .int64(i): return "the INTEGER \(i)"
        case let .double(d): return "the REAL \(d)"
        case let .string(s): return "the TEXT \"\(s.prefix(40))\""
        case let .blob(b): return "a BLOB of \(b.count) bytes"
        }
    }
}

/// Decodes a record from a `StoredRow`: each coding key from its column, scalars through
/// `StoredRow`'s checked conversions, nested values from JSON text. A value its type rejects (an
/// unknown enum case, a seed that is not a number, JSON of another shape) is `badValue`.
struct StoredRowDecoder: Decoder {
    let row: StoredRow
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    static func decode<T: Decodable>(_ type: T.Type, from row: StoredRow) throws -> T {
        try T(from: StoredRowDecoder(row: row))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(KeyedColumns<Key>(row: row))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw RunStoreError.badValue(table: row.table, column: "-", key: row.key, value: "a record type that is not keyed")
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        throw RunStoreError.badValue(table: row.table, column: "-", key: row.key, value: "a record type that is not keyed")
    }

    /// Thrown by `ColumnDecoder` when the value is not a scalar: it is read from JSON text instead.
    struct JSONRequired: Error {}

    struct KeyedColumns<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let row: StoredRow
        var codingPath: [any CodingKey] { [] }
        var allKeys: [Key] { row.values.keys.compactMap { Key(stringValue: $0) } }

        /// Every key is a column: a missing column is an error when the key is read, not a nil.
        func contains(_ key: Key) -> Bool { true }
        func decodeNil(forKey key: Key) throws -> Bool { try row.isNull(StoredColumns.name(for: key)) }

        func scalar<T: DatabaseValueConvertible>(_ key: Key) throws -> T { try row.get(StoredColumns.name(for: key)) }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try scalar(key) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try scalar(key) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try scalar(key) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try scalar(key) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try scalar(key) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try scalar(key) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try scalar(key) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try scalar(key) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try scalar(key) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try scalar(key) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try scalar(key) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try scalar(key) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try scalar(key) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try scalar(key) }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            let column = StoredColumns.name(for: key)
            // Data and the other column types: read as they are (Data is not JSON).
            if let scalarType = T.self as? any DatabaseValueConvertible.Type {
                func read<V: DatabaseValueConvertible>(_ t: V.Type) throws -> T? { try row.get(column, as: t) as? T }
                if let v = try read(scalarType) { return v }
            }
            do {
                do {
                    // Enums with raw values and single-value wrappers read the column itself.
                    return try T(from: ColumnDecoder(row: row, column: column))
                } catch is JSONRequired {
                    let text = try row.get(column, as: String.self)
                    return try JSONDecoder().decode(T.self, from: Data(text.utf8))
                }
            } catch is DecodingError {
                throw RunStoreError.badValue(table: row.table, column: column, key: row.key, value: row.text(column))
            }
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            throw JSONRequired()
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { throw JSONRequired() }
        func superDecoder() throws -> any Decoder { throw JSONRequired() }
        func superDecoder(forKey key: Key) throws -> any Decoder { throw JSONRequired() }
    }

    /// Decodes one column as a single value; a keyed or unkeyed value throws `JSONRequired`.
    struct ColumnDecoder: Decoder, SingleValueDecodingContainer {
        let row: StoredRow
        let column: String
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> { throw JSONRequired() }
        func unkeyedContainer() throws -> any UnkeyedDecodingContainer { throw JSONRequired() }
        func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

        func decodeNil() -> Bool { (try? row.isNull(column)) ?? false }
        func decode(_ type: Bool.Type) throws -> Bool { try row.get(column) }
        func decode(_ type: String.Type) throws -> String { try row.get(column) }
        func decode(_ type: Double.Type) throws -> Double { try row.get(column) }
        func decode(_ type: Float.Type) throws -> Float { try row.get(column) }
        func decode(_ type: Int.Type) throws -> Int { try row.get(column) }
        func decode(_ type: Int8.Type) throws -> Int8 { try row.get(column) }
        func decode(_ type: Int16.Type) throws -> Int16 { try row.get(column) }
        func decode(_ type: Int32.Type) throws -> Int32 { try row.get(column) }
        func decode(_ type: Int64.Type) throws -> Int64 { try row.get(column) }
        func decode(_ type: UInt.Type) throws -> UInt { try row.get(column) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try row.get(column) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try row.get(column) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try row.get(column) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try row.get(column) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: self) }
    }
}

/// A value stored as its text (a UInt64 seed beyond SQLite's signed 64-bit integers).
@propertyWrapper
public struct StoredAsText<Value: LosslessStringConvertible & Equatable & Sendable>: Codable, Equatable, Sendable {
    public var wrappedValue: Value
    public init(wrappedValue: Value) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Value(text) else { throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a \(Value.self): \(text)") }
        wrappedValue = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue.description)
    }
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
