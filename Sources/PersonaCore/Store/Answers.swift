// Answers and their activation summaries (tables `answers` and `activations`). An answer and its
// summary are stored in one transaction, a finished batch of them in one transaction.
import Crypto
import Foundation
import GRDB

/// What kind of answer a record is.
public enum AnswerKind: String, Codable, Sendable {
    /// Contrastive extraction answer (positive or negative system prompt).
    case extraction
    /// Evaluation question, steered (coefficient 0 = the unsteered baseline).
    case steered
    /// Evaluation question under a positive or negative system prompt (monitoring).
    case prompted
}

/// Which prompt of an instruction pair an answer was generated under: the one that asks for the
/// trait (`pos`) or the one that asks against it (`neg`). The raw values are the stored text and
/// part of every extraction and prompted answer's cache key.
public enum Polarity: String, Codable, Sendable, CaseIterable {
    case pos, neg
}

/// One generated answer; a row of `answers` (its coding keys are the columns).
public struct AnswerRecord: Equatable, Sendable, Codable {
    public var key: String
    public var kind: AnswerKind
    public var trait: String
    public var questionIndex: Int
    public var question: String
    /// Extraction and prompted answers: the instruction pair and its prompt; nil both for steered
    /// answers (the table holds them NULL together).
    public var instructionIndex: Int?
    public var polarity: Polarity?
    public var sampleIndex: Int
    public var systemPrompt: String?
    /// The rendered chat prompt.
    public var promptText: String
    public var answer: String
    public var promptTokenCount: Int
    public var responseTokenCount: Int
    public var stopReason: String
    /// Stored as text: SQLite's integers are signed.
    @StoredAsText public var seed: UInt64
    public var steeringLayer: Int?
    public var coefficient: Double?
    public var vectorKey: String?
    /// Where the answer was generated: "local", or the engine's identity (`--engine openai`).
    public var engine: String = "local"

    public init(
        key: String, kind: AnswerKind, trait: String, questionIndex: Int, question: String, instructionIndex: Int?, polarity: Polarity?,
        sampleIndex: Int, systemPrompt: String?, promptText: String, answer: String, promptTokenCount: Int, responseTokenCount: Int,
        stopReason: String, seed: UInt64, steeringLayer: Int? = nil, coefficient: Double? = nil, vectorKey: String? = nil
    ) {
        self.key = key; self.kind = kind; self.trait = trait; self.questionIndex = questionIndex; self.question = question
        self.instructionIndex = instructionIndex; self.polarity = polarity; self.sampleIndex = sampleIndex; self.systemPrompt = systemPrompt
        self.promptText = promptText; self.answer = answer; self.promptTokenCount = promptTokenCount
        self.responseTokenCount = responseTokenCount; self.stopReason = stopReason; self.seed = seed
        self.steeringLayer = steeringLayer; self.coefficient = coefficient; self.vectorKey = vectorKey
    }

    enum CodingKeys: String, CodingKey {
        case key, kind, trait, questionIndex, question, instructionIndex, polarity, sampleIndex, systemPrompt, promptText, answer
        case promptTokenCount = "prompt_tokens", responseTokenCount = "response_tokens"
        case stopReason, seed, steeringLayer, coefficient, vectorKey, engine
    }
}

extension AnswerRecord: FetchableRecord, PersistableRecord, StoredRecord {
    public static let databaseTableName = "answers"
    public static let databaseColumnEncodingStrategy = StoredColumns.strategy
    static let keyColumn = "key"
    public init(row: Row) throws { self = try Self.decodeStored(row) }
}

/// A row of `activations`: an answer's activation summary, each [layers][hidden] as a float32 blob.
struct StoredActivations: StoredRecord {
    static let databaseTableName = "activations"
    static let databaseColumnEncodingStrategy = StoredColumns.strategy
    static let keyColumn = "answer_key"
    var answerKey: String
    var layers: Int
    var hidden: Int
    var responseTokens: Int
    var promptTokens: Int
    /// Empty (or NULL) when the answer had no response tokens.
    var responseMean: Data?
    var promptMean: Data?
    var promptLast: Data?

    init(row: Row) throws { self = try Self.decodeStored(row) }

    init(answerKey: String, summary s: ActivationSummary) {
        self.answerKey = answerKey
        layers = s.promptMean.count; hidden = s.promptMean.first?.count ?? 0
        responseTokens = s.responseTokenCount; promptTokens = s.promptTokenCount
        responseMean = FloatBlob.encode(rows: s.responseMean); promptMean = FloatBlob.encode(rows: s.promptMean)
        promptLast = FloatBlob.encode(rows: s.promptLast)
    }

    func summary() throws -> ActivationSummary {
        guard layers > 0, hidden > 0, layers <= 4096, hidden <= 1 << 20 else {
            throw RunStoreError.badValue(table: "activations", column: "layers/hidden", key: answerKey, value: "\(layers)/\(hidden)")
        }
        func rows(_ data: Data?, _ column: String) throws -> [[Float]] {
            try FloatBlob.decode(rows: data ?? Data(), rows: layers, width: hidden, table: "activations", column: column, key: answerKey)
        }
        return ActivationSummary(
            responseMean: try rows(responseMean, "response_mean"), promptMean: try rows(promptMean, "prompt_mean"),
            promptLast: try rows(promptLast, "prompt_last"), responseTokenCount: responseTokens, promptTokenCount: promptTokens)
    }
}

extension RunStore {
    /// Stores an answer and its activation summary together (one transaction).
    public func insert(answer a: AnswerRecord, activations: ActivationSummary?) throws {
        try insert(answers: [(a, activations)])
    }

    /// Stores answers with their activations, all in one transaction (a finished batch).
    public func insert(answers: [(AnswerRecord, ActivationSummary?)]) throws {
        try db.write { db in
            for (a, s) in answers {
                try a.store(db, extra: ["created_at": Self.now.databaseValue])
                if let s { try StoredActivations(answerKey: a.key, summary: s).store(db) }
            }
        }
    }

    /// The stored answers among `keys`, by key.
    public func answers(keys: [String]) throws -> [String: AnswerRecord] {
        let found = try db.read { db in try AnswerRecord.fetchAll(db, where: "key", among: keys) }
        return Dictionary(found.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Every answer, ordered by key (comparisons and exports).
    public func allAnswers() throws -> [AnswerRecord] {
        try db.read { db in try AnswerRecord.fetchAll(db, sql: "SELECT * FROM answers ORDER BY key") }
    }

    /// The activation summary of an answer.
    public func activations(answerKey key: String) throws -> ActivationSummary? {
        try db.read { db in
            try StoredActivations.fetchOne(db, sql: "SELECT * FROM activations WHERE answer_key = ?", arguments: [key])?.summary()
        }
    }

    /// Digests of every activation row (for comparing two stores), by answer key.
    public func activationDigests() throws -> [String: String] {
        try db.read { db in
            var out: [String: String] = [:]
            for s in try StoredActivations.fetchAll(db, sql: "SELECT * FROM activations") {
                var d = Data()
                for blob in [s.responseMean, s.promptMean, s.promptLast] { d.append(blob ?? Data()) }
                out[s.answerKey] = SHA256.hex(d)
            }
            return out
        }
    }
}
