// The run store's schema steps and records (issue 23): a store written by the previous schema
// (trait states, behaviour results and geometry as JSON values of run_info) is read by this
// version — from a migrated copy in memory when opened read-only, the file keeping its bytes, and
// migrated in place when opened to be written — and the records of the new tables are read with
// errors that name table, column and row, never a trap. No model: every test takes milliseconds.
import Foundation
import GRDB
import XCTest
import PersonaTestSupport
@testable import PersonaCore

final class RunStoreSchemaTests: XCTestCase {
    static let state: TraitState = {
        var s = TraitState(packHash: "pack-hash")
        s.pairsTotal = 10; s.filterKey = "f"; s.vectorKeys = ["response_avg": "v1", "prompt_last": "v2"]; s.method = "response_avg"
        s.steeringLayer = 12; s.steeringResultKeys = ["r1", "r2"]; s.exampleAnswerKeys = ["answer-1"]; s.behaviorResultKeys = ["b1"]
        s.promptLastCorrelation = 0.25; s.promptingBaseline = PromptingBaseline(meanTrait: 80, meanCoherence: nil, answerCount: 4)
        return s
    }()
    static let behavior = BehaviorResult(
        key: "b1", trait: "grumpy", layer: 12, coefficient: -1.5, positions: "response",
        meanTraitProbability: 0.625, itemProbabilities: [0.5, 0.75], meanLogRatio: 0.125)
    static let geometry = Geometry(
        traits: ["grumpy", "cheerful"], layer: 1, cosine: [[1, -0.5], [-0.5, 1]],
        perLayer: [[[1, 0.25], [0.25, 1]], [[1, -0.5], [-0.5, 1]]])
    static let answer = AnswerRecord(
        key: "answer-1", kind: .steered, trait: "grumpy", questionIndex: 0, question: "Q?", instructionIndex: nil,
        polarity: nil, sampleIndex: 0, systemPrompt: nil, promptText: "p", answer: "a", promptTokenCount: 3,
        responseTokenCount: 2, stopReason: "end_token", seed: UInt64.max - 1, steeringLayer: 12, coefficient: -1.5,
        vectorKey: "v1")

    /// A store as the previous version wrote it: the schema steps up to v2-answer-engine, one answer,
    /// and the trait's state, a behaviour result and the geometry as JSON values of run_info.
    func makePreviousStore() throws -> String {
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("run.sqlite").path
        let queue = try DatabaseQueue(path: path)
        try RunStore.migrator.migrate(queue, upTo: "v2-answer-engine")
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO answers(key, kind, trait, question_index, question, instruction_index, polarity, sample_index, system_prompt,
                        prompt_text, answer, prompt_tokens, response_tokens, stop_reason, seed, steering_layer, coefficient, vector_key, created_at)
                    VALUES ('answer-1', 'steered', 'grumpy', 0, 'Q?', -1, 'none', 0, NULL, 'p', 'a', 3, 2, 'end_token', ?, 12, -1.5, 'v1', 0)
                    """, arguments: [String(UInt64.max - 1)])
            for (condition, key) in [("baseline", "answer-0"), ("steered +2", "answer-1"), ("steered -0.5", "answer-2"), ("positive prompt", "answer-3")] {
                try db.execute(
                    sql: """
                        INSERT INTO projections(trait, vector_key, layer, answer_key, condition, source, value)
                        VALUES ('grumpy', 'v1', 12, ?, ?, 'response_mean', 0.25)
                        """, arguments: [key, condition])
            }
            let values = try [
                ("run", #"{"name": "demo"}"#), ("trait.grumpy", RunStore.json(Self.state)), ("behavior.b1", RunStore.json(Self.behavior)),
                ("geometry", RunStore.json(Self.geometry)), ("search.s1", #"{"searched": true}"#)
            ]
            for (name, value) in values {
                try db.execute(sql: "INSERT INTO run_info(name, value) VALUES (?, ?)", arguments: [name, value])
            }
        }
        return path
    }

    func edit(_ path: String, _ sql: String) throws {
        try DatabaseQueue(path: path).write { try $0.execute(sql: sql) }
    }

    func assertReadsThePreviousRecords(_ store: RunStore, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try store.traitState("grumpy"), Self.state, file: file, line: line)
        XCTAssertNil(try store.traitState("cheerful"), file: file, line: line)
        XCTAssertEqual(try store.behaviorResult(key: "b1"), Self.behavior, file: file, line: line)
        XCTAssertEqual(try store.geometry(), Self.geometry, file: file, line: line)
        XCTAssertEqual(try store.answers(keys: ["answer-1"]), ["answer-1": Self.answer], file: file, line: line)
        // The steered answer's instruction pair and polarity are NULL; a steered projection's
        // coefficient is a number of its own.
        XCTAssertEqual(
            try store.projections(vectorKey: "v1", layer: 12).map(\.condition),
            [.baseline, .positivePrompt, .steered(coefficient: -0.5), .steered(coefficient: 2)], file: file, line: line)
        // What has no table of its own stays in run_info.
        XCTAssertEqual(try store.allInfo().keys.sorted(), ["run", "search.s1"], file: file, line: line)
    }

    func testReadOnlyOpenReadsAPreviousStoreFromAMigratedCopy() throws {
        let path = try makePreviousStore()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let store = try RunStore(path: path, readOnly: true)
        try assertReadsThePreviousRecords(store)
        // Not checked: that a write to the copy fails. SQLite does not enforce a read-only open of a
        // shared in-memory database; such a write would go to the copy and be lost, never to the file.
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before, "a read-only open wrote to the file")
        XCTAssertEqual(try RunStore.checkBeforeOpening(path: path, readOnly: true), ["v3-trait-tables", "v4-typed-conditions"])
    }

    func testWritableOpenMigratesAPreviousStoreInPlace() throws {
        let path = try makePreviousStore()
        do {
            let store = try RunStore(path: path)
            try assertReadsThePreviousRecords(store)
            XCTAssertEqual(try ["trait_states", "behavior_results", "geometry"].map { try store.count($0) }, [1, 1, 1])
        }
        XCTAssertEqual(try RunStore.checkBeforeOpening(path: path, readOnly: true), [])
        try assertReadsThePreviousRecords(try RunStore(path: path, readOnly: true))
    }

    /// A value the previous version could not have read stops the schema step: the error names the
    /// run_info entry, and nothing has moved.
    func testAPreviousStoreWithADamagedValueIsRefusedNamingIt() throws {
        let path = try makePreviousStore()
        try edit(path, #"UPDATE run_info SET value = '{"packHash": 3}' WHERE name = 'trait.grumpy'"#)
        for readOnly in [true, false] {
            XCTAssertThrowsError(try RunStore(path: path, readOnly: readOnly)) {
                XCTAssertEqual("\($0)", #"run store: run_info.value of trait.grumpy has the invalid value {"packHash": 3}"#)
            }
        }
        let queue = try DatabaseQueue(path: path)
        XCTAssertEqual(try queue.read { try RunStore.migrator.appliedIdentifiers($0) }, ["v1", "v2-answer-engine"])
        XCTAssertEqual(try queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM run_info") }, 5)
    }

    /// A condition the previous version could not have written stops schema step v4, naming the row.
    func testAPreviousStoreWithAnUnreadableConditionIsRefusedNamingIt() throws {
        let path = try makePreviousStore()
        try edit(path, "UPDATE projections SET condition = 'steered +x' WHERE answer_key = 'answer-2'")
        for readOnly in [true, false] {
            XCTAssertThrowsError(try RunStore(path: path, readOnly: readOnly)) {
                XCTAssertEqual("\($0)", "run store: projections.condition of answer-2 has the invalid value steered +x")
            }
        }
    }

    /// Conditions and polarities round-trip as types; a steered row without its coefficient or an
    /// unknown polarity is an error naming table, column and row.
    func testConditionsAndPolaritiesRoundTripAndNameDamage() throws {
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("run.sqlite").path
        let store = try RunStore(path: path)
        var prompted = Self.answer
        prompted.key = "answer-p"; prompted.kind = .prompted; prompted.instructionIndex = 2; prompted.polarity = .neg
        try store.insert(answers: [(Self.answer, nil), (prompted, nil)])
        XCTAssertEqual(try store.answers(keys: ["answer-1", "answer-p"]), ["answer-1": Self.answer, "answer-p": prompted])
        let conditions: [ProjectionCondition] = [.steered(coefficient: 1.5), .negativePrompt, .steered(coefficient: -3), .baseline, .positivePrompt]
        try store.insert(
            projections: conditions.enumerated().map {
                ProjectionRecord(
                    trait: "grumpy", vectorKey: "v", layer: 3, answerKey: "a\($0.offset)", condition: $0.element, source: "response_mean", value: 1)
            })
        XCTAssertEqual(try store.projections(vectorKey: "v", layer: 3).map(\.condition).sorted(), conditions.sorted())
        XCTAssertEqual(conditions.sorted().map(\.label), ["baseline", "negative prompt", "positive prompt", "steered -3", "steered +1.5"])
        try edit(path, "UPDATE projections SET coefficient = NULL WHERE answer_key = 'a0'")
        XCTAssertThrowsError(try RunStore(path: path).projections(vectorKey: "v", layer: 3)) {
            XCTAssertEqual("\($0)", "run store: projections.coefficient of a0 has the invalid value NULL (a steered row needs its coefficient)")
        }
        try edit(path, "UPDATE answers SET polarity = 'none' WHERE key = 'answer-p'")
        XCTAssertThrowsError(try RunStore(path: path).answers(keys: ["answer-p"])) {
            XCTAssertEqual("\($0)", "run store: answers.polarity of answer-p has the invalid value none")
        }
    }

    /// The new tables round-trip their records, and a damaged value in them is an error naming the
    /// table, the column and the row.
    func testNewTablesRoundTripAndNameDamage() throws {
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("run.sqlite").path
        let store = try RunStore(path: path)
        try store.save(traitState: Self.state, trait: "grumpy")
        try store.insert(behaviorResult: Self.behavior)
        try store.save(geometry: Self.geometry)
        try store.insert(answer: Self.answer, activations: nil)
        var changed = Self.state
        changed.bestLayer = 9; changed.vectorKeys = [:]
        try store.save(traitState: changed, trait: "grumpy")
        XCTAssertEqual(try store.traitState("grumpy"), changed)
        XCTAssertEqual(try store.count("trait_states"), 1)
        XCTAssertEqual(try store.behaviorResult(key: "b1"), Self.behavior)
        XCTAssertEqual(try store.geometry(), Self.geometry)

        func assertError(_ sql: String, _ expected: String, _ read: (RunStore) throws -> Any?, line: UInt = #line) throws {
            try edit(path, sql)
            XCTAssertThrowsError(try read(RunStore(path: path))) { XCTAssert("\($0)".contains(expected), "\($0)", line: line) }
        }
        try assertError(
            "UPDATE trait_states SET best_layer = 'nine'",
            #"run store: trait_states.best_layer of trait grumpy holds the TEXT "nine", expected an INTEGER"#
        ) { try $0.traitState("grumpy") }
        try assertError(
            "UPDATE trait_states SET best_layer = 9, vector_keys = '[1'",
            "run store: trait_states.vector_keys of grumpy has the invalid value [1"
        ) { try $0.traitState("grumpy") }
        try assertError(
            "UPDATE trait_states SET vector_keys = '{}', pairs_total = x'ff'",
            "trait_states.pairs_total of trait grumpy holds a BLOB of 1 bytes, expected an INTEGER"
        ) { try $0.traitState("grumpy") }
        try assertError(
            "UPDATE behavior_results SET item_probabilities = '{\"a\": 1}'",
            "behavior_results.item_probabilities of b1 has the invalid value"
        ) { try $0.behaviorResult(key: "b1") }
        try assertError("UPDATE geometry SET layer = 1.5", "geometry.layer of id 1 holds the REAL 1.5") { try $0.geometry() }
        try assertError("UPDATE answers SET kind = 'bogus'", "run store: answers.kind of answer-1 has the invalid value bogus") {
            try $0.answers(keys: ["answer-1"])
        }
        try assertError("UPDATE answers SET kind = 'steered', seed = 'minus one'", "run store: answers.seed of answer-1 has the invalid value minus one") {
            try $0.allAnswers()
        }
    }

    /// `answers(keys:)` and `scores(keys:)` share one chunked query: more keys than one chunk binds.
    func testLookupsByKeySpanChunks() throws {
        let store = try RunStore(path: try TestPaths.temporaryDirectory().appendingPathComponent("run.sqlite").path)
        var answers: [(AnswerRecord, ActivationSummary?)] = []
        var scores: [ScoreRecord] = []
        for i in 0..<1203 {
            var a = Self.answer
            a.key = "answer-\(i)"; a.questionIndex = i
            answers.append((a, nil))
            scores.append(ScoreRecord(key: "score-\(i)", answerKey: a.key, kind: .trait, score: Double(i % 100), noScoreReason: nil, numberMass: 1, judge: "j"))
        }
        try store.insert(answers: answers)
        try store.insert(scores: scores)
        let keys = (0..<1300).map { "answer-\($0)" }
        XCTAssertEqual(try store.answers(keys: keys).count, 1203)
        XCTAssertEqual(try store.answers(keys: keys)["answer-1202"]?.questionIndex, 1202)
        XCTAssertEqual(try store.scores(keys: (0..<1300).map { "score-\($0)" }).count, 1203)
        XCTAssertEqual(try store.answers(keys: []), [:])
    }
}
