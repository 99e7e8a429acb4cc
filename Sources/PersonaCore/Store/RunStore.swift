// The run store (DESIGN.md, "Run store and artifacts"): one SQLite database per run directory
// (`runs/NAME/run.sqlite`), through GRDB. Every answer, score, activation summary, pair decision,
// vector, steering result and projection is committed in its own small transaction as soon as it
// exists, so a killed run (even `kill -9`) loses at most the items in flight. WAL journal: readers
// (a report, a test) never block the writer, and a crash never corrupts what was committed.
//
// Every record carries a cache key (see `CacheKey`): a hash of the model fingerprint, the pack's
// content hash, the judge's cache identity where relevant and every parameter that changes the
// record. A stage looks its items up by key and computes only the missing ones.
//
// Float vectors are stored as little-endian float32 blobs (`FloatBlob`).
import Crypto
import Foundation
import GRDB

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
    /// Opened read-only, the store lacks schema steps this version would add (an earlier version wrote it).
    case earlierSchema(path: String, missing: [String])

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
            return "\(path) was written by a later version of persona (schema steps \(migrations.joined(separator: ", ")) unknown here): open it with that version"
        case let .unknownSchema(path, tables):
            return "\(path) is not a persona run store or its schema record is damaged (tables \(tables.joined(separator: ", ")) but no grdb_migrations): it was left unchanged"
        case let .earlierSchema(path, missing):
            return "\(path) was written by an earlier version of persona (schema steps \(missing.joined(separator: ", ")) not applied): run any `persona stage … --run` on it once to bring it up to date"
        }
    }
}

/// Stable cache keys: SHA-256 over labelled parts.
public enum CacheKey {
    /// A key from named parts (order matters; each part is prefixed by its length so no two part
    /// lists collide).
    public static func make(_ parts: [String]) -> String {
        var data = Data()
        for p in parts {
            let bytes = Array(p.utf8)
            data.append(contentsOf: Array(String(bytes.count).utf8))
            data.append(0x3A)
            data.append(contentsOf: bytes)
        }
        return String(SHA256.hex(data).prefix(32))
    }

    /// A 64-bit seed derived from parts (first 8 bytes of their SHA-256).
    public static func seed(_ parts: [String]) -> UInt64 {
        let digest = SHA256.hash(data: Data(make(parts).utf8))
        return digest.prefix(8).reduce(0) { ($0 << 8) | UInt64($1) }
    }

    /// A number as text that round-trips exactly.
    public static func number(_ x: Double) -> String { String(x.bitPattern, radix: 16) + "/" + String(x) }
}

/// Float arrays as little-endian float32 blobs.
public enum FloatBlob {
    public static func encode(_ values: [Float]) -> Data {
        values.withUnsafeBufferPointer { Data(buffer: $0) }   // x86-64 and arm64 are little-endian
    }
    public static func encode(rows: [[Float]]) -> Data { encode(rows.flatMap { $0 }) }

    public static func decode(_ data: Data, count: Int, table: String, column: String, key: String) throws -> [Float] {
        guard data.count == count * 4 else { throw RunStoreError.badBlob(table: table, column: column, key: key, bytes: data.count, expected: count * 4) }
        var out = [Float](repeating: 0, count: count)
        _ = out.withUnsafeMutableBytes { data.copyBytes(to: $0) }
        return out
    }

    public static func decode(rows data: Data, rows: Int, width: Int, table: String, column: String, key: String) throws -> [[Float]] {
        if data.isEmpty && rows * width > 0 { return Array(repeating: [], count: rows) }   // no response tokens
        let flat = try decode(data, count: rows * width, table: table, column: column, key: key)
        return (0..<rows).map { Array(flat[($0 * width)..<(($0 + 1) * width)]) }
    }
}

/// What kind of answer a record is.
public enum AnswerKind: String, Codable, Sendable {
    /// Contrastive extraction answer (positive or negative system prompt).
    case extraction
    /// Evaluation question, steered (coefficient 0 = the unsteered baseline).
    case steered
    /// Evaluation question under a positive or negative system prompt (monitoring).
    case prompted
}

/// One generated answer.
public struct AnswerRecord: Equatable, Sendable {
    public var key: String
    public var kind: AnswerKind
    public var trait: String
    public var questionIndex: Int
    public var question: String
    /// Extraction and prompted answers: the instruction pair; -1 otherwise.
    public var instructionIndex: Int
    /// "pos", "neg" or "none".
    public var polarity: String
    public var sampleIndex: Int
    public var systemPrompt: String?
    /// The rendered chat prompt.
    public var promptText: String
    public var answer: String
    public var promptTokenCount: Int
    public var responseTokenCount: Int
    public var stopReason: String
    public var seed: UInt64
    public var steeringLayer: Int?
    public var coefficient: Double?
    public var vectorKey: String?
    /// Where the answer was generated: "local", or the engine's identity (`--engine openai`).
    public var engine: String = "local"

    public init(key: String, kind: AnswerKind, trait: String, questionIndex: Int, question: String, instructionIndex: Int, polarity: String,
                sampleIndex: Int, systemPrompt: String?, promptText: String, answer: String, promptTokenCount: Int, responseTokenCount: Int,
                stopReason: String, seed: UInt64, steeringLayer: Int? = nil, coefficient: Double? = nil, vectorKey: String? = nil) {
        self.key = key; self.kind = kind; self.trait = trait; self.questionIndex = questionIndex; self.question = question
        self.instructionIndex = instructionIndex; self.polarity = polarity; self.sampleIndex = sampleIndex; self.systemPrompt = systemPrompt
        self.promptText = promptText; self.answer = answer; self.promptTokenCount = promptTokenCount
        self.responseTokenCount = responseTokenCount; self.stopReason = stopReason; self.seed = seed
        self.steeringLayer = steeringLayer; self.coefficient = coefficient; self.vectorKey = vectorKey
    }
}

/// Which score of an answer.
public enum ScoreKind: String, Codable, Sendable, CaseIterable {
    case trait
    case coherence
}

/// One judged score.
public struct ScoreRecord: Equatable, Sendable {
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

/// One pair's fate in the filter stage.
public struct PairDecision: Equatable, Sendable {
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

/// Mean judged scores of steered answers at one layer and coefficient.
public struct SteeringResultRecord: Equatable, Sendable {
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

/// One projection value.
public struct ProjectionRecord: Equatable, Sendable {
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

/// The run store of one run directory.
public final class RunStore: @unchecked Sendable {
    public let path: String
    /// One WAL-mode connection for a store that is written; a read-only one for a store that is only read.
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
    /// that is up to date is not written by opening it.
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        do {
            let exists = FileManager.default.fileExists(atPath: path)
            if exists { try Self.checkBeforeOpening(path: path, readOnly: readOnly) }
            if readOnly {
                guard exists else { throw RunStoreError.notARunStore(path: path) }
                var config = Configuration()
                config.readonly = true
                config.busyMode = .timeout(30)
                db = try DatabaseQueue(path: path, configuration: config)
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
            try Self.migrator.migrate(db)
        } catch let error as DatabaseError {
            throw RunStoreError.cannotOpen(path: path, reason: error.message ?? error.description)
        }
    }

    /// The read-only checks an existing file passes before anything may write to it.
    static func checkBeforeOpening(path: String, readOnly: Bool) throws {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(30)
        let queue = try DatabaseQueue(path: path, configuration: config)
        let migrator = Self.migrator
        try queue.read { db in
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            if tables.isEmpty {
                if readOnly { throw RunStoreError.notARunStore(path: path) }
                return   // an empty database (a store created but never migrated): migrating is safe
            }
            guard tables.contains("grdb_migrations") else { throw RunStoreError.unknownSchema(path: path, tables: tables) }
            let applied = try migrator.appliedIdentifiers(db)
            // Checked before migrating: migrating a later schema would write to a store this
            // version cannot read.
            let unknown = applied.subtracting(migrator.migrations)
            if !unknown.isEmpty { throw RunStoreError.laterSchema(path: path, migrations: unknown.sorted()) }
            if readOnly {
                let missing = migrator.migrations.filter { !applied.contains($0) }
                if !missing.isEmpty { throw RunStoreError.earlierSchema(path: path, missing: missing) }
            }
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

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
            CREATE TABLE run_info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE answers (
                key TEXT PRIMARY KEY, kind TEXT NOT NULL, trait TEXT NOT NULL, question_index INTEGER NOT NULL,
                question TEXT NOT NULL, instruction_index INTEGER NOT NULL, polarity TEXT NOT NULL, sample_index INTEGER NOT NULL,
                system_prompt TEXT, prompt_text TEXT NOT NULL, answer TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
                response_tokens INTEGER NOT NULL, stop_reason TEXT NOT NULL, seed TEXT NOT NULL,
                steering_layer INTEGER, coefficient REAL, vector_key TEXT, created_at REAL NOT NULL);
            CREATE INDEX answers_trait ON answers(trait, kind);
            CREATE TABLE scores (
                key TEXT PRIMARY KEY, answer_key TEXT NOT NULL, kind TEXT NOT NULL, score REAL, no_score_reason TEXT,
                number_mass REAL NOT NULL, judge TEXT NOT NULL, created_at REAL NOT NULL);
            CREATE INDEX scores_answer ON scores(answer_key);
            CREATE TABLE activations (
                answer_key TEXT PRIMARY KEY, layers INTEGER NOT NULL, hidden INTEGER NOT NULL,
                response_tokens INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL,
                response_mean BLOB NOT NULL, prompt_mean BLOB NOT NULL, prompt_last BLOB NOT NULL);
            CREATE TABLE filter_runs (
                filter_key TEXT PRIMARY KEY, trait TEXT NOT NULL, total INTEGER NOT NULL, kept INTEGER NOT NULL, created_at REAL NOT NULL);
            CREATE TABLE pair_decisions (
                filter_key TEXT NOT NULL, trait TEXT NOT NULL, question_index INTEGER NOT NULL, instruction_index INTEGER NOT NULL,
                sample_index INTEGER NOT NULL, positive_key TEXT NOT NULL, negative_key TEXT NOT NULL, kept INTEGER NOT NULL, reason TEXT,
                PRIMARY KEY (filter_key, question_index, instruction_index, sample_index));
            CREATE TABLE vectors (
                key TEXT PRIMARY KEY, trait TEXT NOT NULL, method TEXT NOT NULL, filter_key TEXT NOT NULL, layers INTEGER NOT NULL,
                hidden INTEGER NOT NULL, pair_count INTEGER NOT NULL, data BLOB NOT NULL, model TEXT NOT NULL, created_at REAL NOT NULL);
            CREATE TABLE steering_results (
                key TEXT PRIMARY KEY, trait TEXT NOT NULL, vector_key TEXT NOT NULL, layer INTEGER NOT NULL, coefficient REAL NOT NULL,
                positions TEXT NOT NULL, mean_trait REAL, mean_coherence REAL, scored_count INTEGER NOT NULL, answer_count INTEGER NOT NULL,
                created_at REAL NOT NULL);
            CREATE TABLE projections (
                trait TEXT NOT NULL, vector_key TEXT NOT NULL, layer INTEGER NOT NULL, answer_key TEXT NOT NULL, condition TEXT NOT NULL,
                source TEXT NOT NULL, value REAL NOT NULL,
                PRIMARY KEY (vector_key, layer, answer_key, source, condition));
            CREATE TABLE stage_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT, invocation TEXT NOT NULL, stage TEXT NOT NULL, trait TEXT NOT NULL,
                computed INTEGER NOT NULL, reused INTEGER NOT NULL, at REAL NOT NULL);
            """)
        }
        // Where each answer was generated (`--engine`); answers of older stores were local.
        m.registerMigration("v2-answer-engine") { db in
            try db.execute(sql: "ALTER TABLE answers ADD COLUMN engine TEXT NOT NULL DEFAULT 'local'")
        }
        return m
    }

    static var now: Double { Date().timeIntervalSince1970 }

    // MARK: run info

    public func setInfo(_ name: String, _ value: String) throws {
        try db.write { try $0.execute(sql: "INSERT OR REPLACE INTO run_info(name, value) VALUES (?, ?)", arguments: [name, value]) }
    }

    public func info(_ name: String) throws -> String? {
        try db.read { db in
            try Row.fetchOne(db, sql: "SELECT name, value FROM run_info WHERE name = ?", arguments: [name]).map {
                try StoredRow($0, table: "run_info", keyColumn: "name").get("value")
            }
        }
    }

    public func allInfo() throws -> [String: String] {
        try db.read { db in
            Dictionary(try Row.fetchAll(db, sql: "SELECT name, value FROM run_info").map {
                let r = StoredRow($0, table: "run_info", keyColumn: "name")
                return (try r.get("name") as String, try r.get("value") as String)
            }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// A Codable value under `name` (JSON).
    public func setInfo<T: Encodable>(_ name: String, json value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try setInfo(name, String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    public func info<T: Decodable>(_ name: String, as type: T.Type) throws -> T? {
        guard let text = try info(name) else { return nil }
        do { return try JSONDecoder().decode(T.self, from: Data(text.utf8)) } catch {
            throw RunStoreError.badValue(table: "run_info", column: "value", key: name, value: String(text.prefix(80)))
        }
    }

    // MARK: answers and activations

    /// Stores an answer and its activation summary together (one transaction).
    public func insert(answer a: AnswerRecord, activations: ActivationSummary?) throws {
        try insert(answers: [(a, activations)])
    }

    /// Stores answers with their activations, all in one transaction (a finished batch).
    public func insert(answers: [(AnswerRecord, ActivationSummary?)]) throws {
        try db.write { db in
            for (a, s) in answers {
                try db.execute(sql: """
                INSERT OR REPLACE INTO answers(key, kind, trait, question_index, question, instruction_index, polarity, sample_index,
                    system_prompt, prompt_text, answer, prompt_tokens, response_tokens, stop_reason, seed, steering_layer, coefficient,
                    vector_key, created_at, engine) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                """, arguments: [a.key, a.kind.rawValue, a.trait, a.questionIndex, a.question, a.instructionIndex, a.polarity, a.sampleIndex,
                                 a.systemPrompt, a.promptText, a.answer, a.promptTokenCount, a.responseTokenCount, a.stopReason,
                                 String(a.seed), a.steeringLayer, a.coefficient, a.vectorKey, Self.now, a.engine])
                if let s {
                    let layers = s.promptMean.count, hidden = s.promptMean.first?.count ?? 0
                    try db.execute(sql: """
                    INSERT OR REPLACE INTO activations(answer_key, layers, hidden, response_tokens, prompt_tokens, response_mean,
                        prompt_mean, prompt_last) VALUES (?,?,?,?,?,?,?,?)
                    """, arguments: [a.key, layers, hidden, s.responseTokenCount, s.promptTokenCount,
                                     FloatBlob.encode(rows: s.responseMean), FloatBlob.encode(rows: s.promptMean), FloatBlob.encode(rows: s.promptLast)])
                }
            }
        }
    }

    static func answer(from row: Row) throws -> AnswerRecord {
        let r = StoredRow(row, table: "answers", keyColumn: "key")
        let key: String = try r.get("key")
        let kindText: String = try r.get("kind"), seedText: String = try r.get("seed")
        guard let kind = AnswerKind(rawValue: kindText) else { throw RunStoreError.badValue(table: "answers", column: "kind", key: key, value: kindText) }
        guard let seed = UInt64(seedText) else { throw RunStoreError.badValue(table: "answers", column: "seed", key: key, value: seedText) }
        var a = AnswerRecord(key: key, kind: kind, trait: try r.get("trait"), questionIndex: try r.get("question_index"), question: try r.get("question"),
                             instructionIndex: try r.get("instruction_index"), polarity: try r.get("polarity"), sampleIndex: try r.get("sample_index"),
                             systemPrompt: try r.optional("system_prompt"), promptText: try r.get("prompt_text"), answer: try r.get("answer"),
                             promptTokenCount: try r.get("prompt_tokens"), responseTokenCount: try r.get("response_tokens"), stopReason: try r.get("stop_reason"),
                             seed: seed, steeringLayer: try r.optional("steering_layer"), coefficient: try r.optional("coefficient"),
                             vectorKey: try r.optional("vector_key"))
        a.engine = try r.optional("engine") ?? "local"
        return a
    }

    /// The stored answers among `keys`, by key.
    public func answers(keys: [String]) throws -> [String: AnswerRecord] {
        var out: [String: AnswerRecord] = [:]
        try db.read { db in
            for chunk in keys.chunked(500) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                for row in try Row.fetchAll(db, sql: "SELECT * FROM answers WHERE key IN (\(marks))", arguments: StatementArguments(chunk)) {
                    let a = try Self.answer(from: row)
                    out[a.key] = a
                }
            }
        }
        return out
    }

    /// Every answer, ordered by key (comparisons and exports).
    public func allAnswers() throws -> [AnswerRecord] {
        try db.read { db in try Row.fetchAll(db, sql: "SELECT * FROM answers ORDER BY key").map(Self.answer(from:)) }
    }

    /// The activation summary of an answer.
    public func activations(answerKey key: String) throws -> ActivationSummary? {
        try db.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM activations WHERE answer_key = ?", arguments: [key]) else { return nil }
            let r = StoredRow(row, table: "activations", keyColumn: "answer_key")
            let layers: Int = try r.get("layers"), hidden: Int = try r.get("hidden")
            guard layers > 0, hidden > 0, layers <= 4096, hidden <= 1 << 20 else {
                throw RunStoreError.badValue(table: "activations", column: "layers/hidden", key: key, value: "\(layers)/\(hidden)")
            }
            func rows(_ column: String) throws -> [[Float]] {
                try FloatBlob.decode(rows: try r.optional(column) ?? Data(), rows: layers, width: hidden, table: "activations", column: column, key: key)
            }
            return ActivationSummary(responseMean: try rows("response_mean"), promptMean: try rows("prompt_mean"), promptLast: try rows("prompt_last"),
                                     responseTokenCount: try r.get("response_tokens"), promptTokenCount: try r.get("prompt_tokens"))
        }
    }

    /// Digests of every activation row (for comparing two stores), by answer key.
    public func activationDigests() throws -> [String: String] {
        try db.read { db in
            var out: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT answer_key, response_mean, prompt_mean, prompt_last FROM activations") {
                let r = StoredRow(row, table: "activations", keyColumn: "answer_key")
                var d = Data()
                for c in ["response_mean", "prompt_mean", "prompt_last"] { d.append(try r.optional(c) ?? Data()) }
                out[try r.get("answer_key")] = SHA256.hex(d)
            }
            return out
        }
    }

    // MARK: scores

    public func insert(scores: [ScoreRecord]) throws {
        try db.write { db in
            for s in scores {
                try db.execute(sql: """
                INSERT OR REPLACE INTO scores(key, answer_key, kind, score, no_score_reason, number_mass, judge, created_at)
                VALUES (?,?,?,?,?,?,?,?)
                """, arguments: [s.key, s.answerKey, s.kind.rawValue, s.score, s.noScoreReason, s.numberMass, s.judge, Self.now])
            }
        }
    }

    static func score(from row: Row) throws -> ScoreRecord {
        let r = StoredRow(row, table: "scores", keyColumn: "key")
        let key: String = try r.get("key"), kindText: String = try r.get("kind")
        guard let kind = ScoreKind(rawValue: kindText) else { throw RunStoreError.badValue(table: "scores", column: "kind", key: key, value: kindText) }
        return ScoreRecord(key: key, answerKey: try r.get("answer_key"), kind: kind, score: try r.optional("score"),
                           noScoreReason: try r.optional("no_score_reason"), numberMass: try r.get("number_mass"), judge: try r.get("judge"))
    }

    /// The stored scores among `keys`, by key.
    public func scores(keys: [String]) throws -> [String: ScoreRecord] {
        var out: [String: ScoreRecord] = [:]
        try db.read { db in
            for chunk in keys.chunked(500) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                for row in try Row.fetchAll(db, sql: "SELECT * FROM scores WHERE key IN (\(marks))", arguments: StatementArguments(chunk)) {
                    let s = try Self.score(from: row)
                    out[s.key] = s
                }
            }
        }
        return out
    }

    /// Every score of one answer.
    public func scores(answerKey: String) throws -> [ScoreRecord] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM scores WHERE answer_key = ? ORDER BY key", arguments: [answerKey]).map(Self.score(from:))
        }
    }

    public func allScores() throws -> [ScoreRecord] {
        try db.read { db in try Row.fetchAll(db, sql: "SELECT * FROM scores ORDER BY key").map(Self.score(from:)) }
    }

    // MARK: pair decisions

    /// Stores a filter run's decisions, all at once (a filter run is complete or absent).
    public func insert(filterKey: String, trait: String, decisions: [PairDecision]) throws {
        try db.write { db in
            try db.execute(sql: "DELETE FROM pair_decisions WHERE filter_key = ?", arguments: [filterKey])
            for d in decisions {
                try db.execute(sql: """
                INSERT INTO pair_decisions(filter_key, trait, question_index, instruction_index, sample_index, positive_key, negative_key, kept, reason)
                VALUES (?,?,?,?,?,?,?,?,?)
                """, arguments: [filterKey, trait, d.questionIndex, d.instructionIndex, d.sampleIndex, d.positiveKey, d.negativeKey, d.kept, d.reason])
            }
            try db.execute(sql: "INSERT OR REPLACE INTO filter_runs(filter_key, trait, total, kept, created_at) VALUES (?,?,?,?,?)",
                           arguments: [filterKey, trait, decisions.count, decisions.filter(\.kept).count, Self.now])
        }
    }

    /// A complete filter run's decisions, or nil when it never finished.
    public func decisions(filterKey: String) throws -> [PairDecision]? {
        try db.read { db in
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM filter_runs WHERE filter_key = ?", arguments: [filterKey]) != nil else { return nil }
            return try Row.fetchAll(db, sql: """
                SELECT * FROM pair_decisions WHERE filter_key = ? ORDER BY question_index, instruction_index, sample_index
                """, arguments: [filterKey]).map {
                let r = StoredRow($0, table: "pair_decisions", keyColumn: "positive_key")
                return PairDecision(questionIndex: try r.get("question_index"), instructionIndex: try r.get("instruction_index"),
                                    sampleIndex: try r.get("sample_index"), positiveKey: try r.get("positive_key"), negativeKey: try r.get("negative_key"),
                                    kept: try r.get("kept"), reason: try r.optional("reason"))
            }
        }
    }

    // MARK: vectors

    public func insert(vector v: VectorRecord) throws {
        try db.write { db in
            try db.execute(sql: """
            INSERT OR REPLACE INTO vectors(key, trait, method, filter_key, layers, hidden, pair_count, data, model, created_at)
            VALUES (?,?,?,?,?,?,?,?,?,?)
            """, arguments: [v.key, v.trait, v.method, v.filterKey, v.rows.count, v.rows.first?.count ?? 0, v.pairCount,
                             FloatBlob.encode(rows: v.rows), v.model, Self.now])
        }
    }

    static func vector(from row: Row) throws -> VectorRecord {
        let r = StoredRow(row, table: "vectors", keyColumn: "key")
        let key: String = try r.get("key")
        let layers: Int = try r.get("layers"), hidden: Int = try r.get("hidden")
        guard layers > 0, hidden > 0, layers <= 4096, hidden <= 1 << 20 else {
            throw RunStoreError.badValue(table: "vectors", column: "layers/hidden", key: key, value: "\(layers)/\(hidden)")
        }
        let rows = try FloatBlob.decode(rows: try r.get("data"), rows: layers, width: hidden, table: "vectors", column: "data", key: key)
        return VectorRecord(key: key, trait: try r.get("trait"), method: try r.get("method"), filterKey: try r.get("filter_key"),
                            pairCount: try r.get("pair_count"), rows: rows, model: try r.get("model"))
    }

    public func vector(key: String) throws -> VectorRecord? {
        try db.read { db in try Row.fetchOne(db, sql: "SELECT * FROM vectors WHERE key = ?", arguments: [key]).map(Self.vector(from:)) }
    }

    public func allVectors() throws -> [VectorRecord] {
        try db.read { db in try Row.fetchAll(db, sql: "SELECT * FROM vectors ORDER BY key").map(Self.vector(from:)) }
    }

    // MARK: steering results and projections

    public func insert(steeringResult r: SteeringResultRecord) throws {
        try db.write { db in
            try db.execute(sql: """
            INSERT OR REPLACE INTO steering_results(key, trait, vector_key, layer, coefficient, positions, mean_trait, mean_coherence,
                scored_count, answer_count, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)
            """, arguments: [r.key, r.trait, r.vectorKey, r.layer, r.coefficient, r.positions, r.meanTrait, r.meanCoherence,
                             r.scoredCount, r.answerCount, Self.now])
        }
    }

    public func steeringResult(key: String) throws -> SteeringResultRecord? {
        try db.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM steering_results WHERE key = ?", arguments: [key]).map {
                let r = StoredRow($0, table: "steering_results", keyColumn: "key")
                return SteeringResultRecord(key: try r.get("key"), trait: try r.get("trait"), vectorKey: try r.get("vector_key"), layer: try r.get("layer"),
                                            coefficient: try r.get("coefficient"), positions: try r.get("positions"), meanTrait: try r.optional("mean_trait"),
                                            meanCoherence: try r.optional("mean_coherence"), scoredCount: try r.get("scored_count"),
                                            answerCount: try r.get("answer_count"))
            }
        }
    }

    public func insert(projections: [ProjectionRecord]) throws {
        try db.write { db in
            for p in projections {
                try db.execute(sql: """
                INSERT OR REPLACE INTO projections(trait, vector_key, layer, answer_key, condition, source, value) VALUES (?,?,?,?,?,?,?)
                """, arguments: [p.trait, p.vectorKey, p.layer, p.answerKey, p.condition, p.source, p.value])
            }
        }
    }

    public func projections(vectorKey: String, layer: Int) throws -> [ProjectionRecord] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM projections WHERE vector_key = ? AND layer = ? ORDER BY condition, answer_key",
                             arguments: [vectorKey, layer]).map {
                let r = StoredRow($0, table: "projections", keyColumn: "answer_key")
                return ProjectionRecord(trait: try r.get("trait"), vectorKey: try r.get("vector_key"), layer: try r.get("layer"),
                                        answerKey: try r.get("answer_key"), condition: try r.get("condition"), source: try r.get("source"),
                                        value: try r.get("value"))
            }
        }
    }

    // MARK: stage log

    /// Records what a stage computed and reused in one invocation.
    public func log(invocation: String, stage: String, trait: String, computed: Int, reused: Int) throws {
        try db.write { db in
            try db.execute(sql: "INSERT INTO stage_log(invocation, stage, trait, computed, reused, at) VALUES (?,?,?,?,?,?)",
                           arguments: [invocation, stage, trait, computed, reused, Self.now])
        }
    }

    /// One invocation's stage log: (stage, trait, computed, reused) in order.
    public func stageLog(invocation: String) throws -> [(stage: String, trait: String, computed: Int, reused: Int)] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM stage_log WHERE invocation = ? ORDER BY id", arguments: [invocation]).map {
                let r = StoredRow($0, table: "stage_log", keyColumn: "id")
                return (stage: try r.get("stage") as String, trait: try r.get("trait") as String, computed: try r.get("computed") as Int,
                        reused: try r.get("reused") as Int)
            }
        }
    }

    /// Row counts per table (progress displays, tests).
    public func count(_ table: String) throws -> Int {
        let known = ["answers", "scores", "activations", "pair_decisions", "vectors", "steering_results", "projections", "stage_log", "filter_runs"]
        guard known.contains(table) else { throw RunStoreError.badValue(table: table, column: "-", key: "-", value: "unknown table") }
        return try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 }
    }
}

/// One stored row read with errors. GRDB's non-optional row subscripts stop the process on a NULL,
/// a missing column or a value of another type; a damaged or hand-edited store must give an error
/// naming the table, the column and the row instead.
struct StoredRow {
    let row: Row
    let table: String
    /// Names the row in errors: its key column's value.
    let id: String

    init(_ row: Row, table: String, keyColumn: String) {
        self.row = row
        self.table = table
        let key = row.first { $0.0 == keyColumn }?.1
        switch key?.storage {
        case let .string(s)?: id = "\(keyColumn) \(s.prefix(64))"
        case let .int64(i)?: id = "\(keyColumn) \(i)"
        default: id = "a row with an unreadable \(keyColumn)"
        }
    }

    /// The column's value, or nil when the column is not there.
    private func value(_ column: String) -> DatabaseValue? { row.first { $0.0 == column }?.1 }

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

    static func expected<T>(_ type: T.Type) -> String {
        switch type {
        case is String.Type: return "TEXT"
        case is Data.Type: return "a BLOB"
        case is Double.Type: return "a REAL number"
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

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
