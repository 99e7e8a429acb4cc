// The behavioural measure and judge quality: teacher-forced log-likelihoods against step-by-step
// steered decoding (every position mode), the probability rule, AUC, Spearman, the judge warning,
// and two-choice item validation — all on fixed inputs with hand-computed values.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaModel
@testable import PersonaCore

final class BehaviorTests: XCTestCase {
    /// What generation would compute: prefill the prompt, then feed the answer one token per pass,
    /// with a `SteeringHook` (the generation-time semantics of each position mode).
    func stepwise(_ model: Transformer, prompt: [Int], answer: [Int], specs: [SteeringSpec], after: [LayerHook] = []) throws -> [Double] {
        let hooks: [LayerHook] = (specs.isEmpty ? [] : [try SteeringHook(specs, config: model.config)]) + after
        return try model.withHooks(hooks) {
            let cache = model.makeCache()
            var logits = try model.forward([SequenceInput(tokens: prompt, cache: cache)])[0]
            var out: [Double] = []
            for (k, t) in answer.enumerated() {
                out.append(LogProbabilities.logProbability(of: t, in: logits))
                if k + 1 < answer.count { logits = try model.forward([SequenceInput(tokens: [t], cache: cache)])[0] }
            }
            return out
        }
    }

    func testTeacherForcingEqualsSteppedDecodingInEveryPositionMode() throws {
        let model = try TinyModel.make()
        let v = (0..<16).map { Float(($0 * 7) % 5) - 2 }
        let sequences = [
            TeacherForcedSequence(promptTokens: [3, 9, 14, 2, 7], answerTokens: [5, 6, 11]),
            TeacherForcedSequence(promptTokens: [3, 9, 14, 2, 7], answerTokens: [8]),
            TeacherForcedSequence(promptTokens: [1], answerTokens: [4, 4, 30, 2])
        ]
        let pool = PrefixCachePool()
        for mode in SteeringPositions.allCases {
            for c: Float in [0, 1.5, -2] {
                let spec = SteeringSpec(vector: v, layer: 0, coefficient: c, positions: mode)
                let forced = try TeacherForcing.logProbabilities(sequences, transformer: model, steering: [spec], pool: pool)
                for (i, s) in sequences.enumerated() {
                    let reference = try stepwise(model, prompt: s.promptTokens, answer: s.answerTokens, specs: c == 0 ? [] : [spec])
                    XCTAssertEqual(forced[i].count, s.answerTokens.count)
                    let diff = zip(forced[i], reference).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThan(diff, 1e-4, "mode \(mode) coefficient \(c) sequence \(i): max |Δ log p| = \(diff)")
                }
            }
        }
        // One shared unsteered prefix per distinct prompt.
        XCTAssertEqual(pool.count, 2)
        // Steering must matter (else the comparison above proves nothing).
        let plain = try TeacherForcing.logProbabilities(sequences, transformer: model, steering: [])
        let steered = try TeacherForcing.logProbabilities(
            sequences, transformer: model, steering: [SteeringSpec(vector: v, layer: 0, coefficient: 3, positions: .response)])
        XCTAssertGreaterThan(abs(plain[0].reduce(0, +) - steered[0].reduce(0, +)), 1e-3)
        // Coefficient 0 is bit-identical to no steering.
        let zero = try TeacherForcing.logProbabilities(sequences, transformer: model, steering: [SteeringSpec(vector: v, layer: 0, coefficient: 0)])
        XCTAssertEqual(zero, plain)
    }

    /// Several layers steered at once (the search's layer sets): one teacher-forced pass equals
    /// stepped decoding with both specs, and differs from either layer alone.
    func testTeacherForcingSteersSeveralLayersAtOnce() throws {
        let model = try TinyModel.make()
        XCTAssertGreaterThanOrEqual(model.config.layerCount, 2)
        let v = (0..<16).map { Float(($0 * 7) % 5) - 2 }, w = (0..<16).map { Float(($0 * 5) % 3) - 1 }
        let sequences = [
            TeacherForcedSequence(promptTokens: [3, 9, 14, 2, 7], answerTokens: [5, 6, 11]),
            TeacherForcedSequence(promptTokens: [1, 4], answerTokens: [4, 4, 30, 2])
        ]
        for mode in [SteeringPositions.response, .all] {
            let specs = [
                SteeringSpec(vector: v, layer: 0, coefficient: 1.5, positions: mode), SteeringSpec(vector: w, layer: 1, coefficient: -2, positions: mode)
            ]
            let both = try TeacherForcing.logProbabilities(sequences, transformer: model, steering: specs, pool: PrefixCachePool())
            for (i, s) in sequences.enumerated() {
                let reference = try stepwise(model, prompt: s.promptTokens, answer: s.answerTokens, specs: specs)
                let diff = zip(both[i], reference).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(diff, 1e-4, "mode \(mode) sequence \(i): max |Δ log p| = \(diff)")
            }
            for one in specs {
                let alone = try TeacherForcing.logProbabilities(sequences, transformer: model, steering: [one])
                XCTAssertGreaterThan(abs(alone[0].reduce(0, +) - both[0].reduce(0, +)), 1e-3, "layer \(one.layer) alone steers as both")
            }
        }
    }

    /// Projection interventions (`--ablate` in the search and the behavioural measure) run after the
    /// steering hook in every pass, the pool's unsteered prefixes included: the same numbers as
    /// generation with [steering, ablation] hooks, and different from steering alone.
    func testTeacherForcingWithAnAblationEqualsSteppedDecoding() throws {
        let model = try TinyModel.make()
        let v = (0..<16).map { Float(($0 * 7) % 5) - 2 }
        let direction = (0..<16).map { Float(($0 * 3) % 7) - 3 }
        let ablation = try ProjectionSpec(path: "test direction", intervention: .ablate, directionLayer: 0)
            .makeHooks(vectors: TraitVectors(rows: [direction], metadata: [:]), config: model.config)
        let sequences = [
            TeacherForcedSequence(promptTokens: [3, 9, 14, 2, 7], answerTokens: [5, 6, 11]),
            TeacherForcedSequence(promptTokens: [1, 4], answerTokens: [4, 4, 30, 2])
        ]
        let pool = PrefixCachePool()
        for c: Float in [0, 1.5] {
            let spec = SteeringSpec(vector: v, layer: 0, coefficient: c, positions: .all)
            let forced = try TeacherForcing.logProbabilities(sequences, transformer: model, steering: [spec], pool: pool, interventions: ablation)
            let steeredOnly = try TeacherForcing.logProbabilities(sequences, transformer: model, steering: [spec])
            for (i, s) in sequences.enumerated() {
                let reference = try stepwise(model, prompt: s.promptTokens, answer: s.answerTokens, specs: c == 0 ? [] : [spec], after: ablation)
                let diff = zip(forced[i], reference).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(diff, 1e-4, "coefficient \(c) sequence \(i): max |Δ log p| = \(diff)")
                let moved = zip(forced[i], steeredOnly[i]).map { abs($0 - $1) }.max() ?? 0
                XCTAssertGreaterThan(moved, 1e-4, "coefficient \(c) sequence \(i): the ablation changes nothing")
            }
        }
    }

    func testTeacherForcingRejectsEmptyParts() throws {
        let model = try TinyModel.make()
        XCTAssertThrowsError(
            try TeacherForcing.logProbabilities([TeacherForcedSequence(promptTokens: [], answerTokens: [1])], transformer: model, steering: []))
        XCTAssertThrowsError(
            try TeacherForcing.logProbabilities([TeacherForcedSequence(promptTokens: [1], answerTokens: [])], transformer: model, steering: []))
    }

    func testTraitProbabilityAndSpearman() {
        // m(trait) = −1.5, m(other) = −3 → σ(1.5) = 0.817574476…
        XCTAssertEqual(Pipeline.traitProbability(traitLogProbabilities: [-1, -2], otherLogProbabilities: [-3]), 0.8175744761936437, accuracy: 1e-12)
        XCTAssertEqual(Pipeline.traitProbability(traitLogProbabilities: [-3], otherLogProbabilities: [-1, -2]), 1 - 0.8175744761936437, accuracy: 1e-12)
        XCTAssertEqual(Pipeline.traitProbability(traitLogProbabilities: [-800], otherLogProbabilities: [-1]), 0, accuracy: 1e-12)
        XCTAssertEqual(Pipeline.spearman([(-2, 0.1), (0, 0.2), (2, 0.3), (4, 0.9)])!, 1, accuracy: 1e-12)
        XCTAssertEqual(Pipeline.spearman([(-2, 0.3), (0, 0.2), (2, 0.1)])!, -1, accuracy: 1e-12)
        // Ranks x 1 2 3 4, y 1 3 2 4: ρ = 1 − 6·2/(4·15) = 0.8.
        XCTAssertEqual(Pipeline.spearman([(1, 10), (2, 30), (3, 20), (4, 40)])!, 0.8, accuracy: 1e-12)
        XCTAssertNil(Pipeline.spearman([(1, 1), (2, 2)]))
    }

    func testJudgeQualityAUCAndWarning() {
        // pos 80, 60, 40 vs neg 50, 40, 10: wins 3 + 3 + (0 + 0.5 + 1) = 7.5 of 9.
        let q = JudgeQuality(positive: [80, 60, 40], negative: [50, 40, 10], coherence: [90, 70])
        XCTAssertEqual(q.auc!, 7.5 / 9, accuracy: 1e-12)
        XCTAssertEqual(q.meanGap!, 60 - 100.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(q.coherenceMean!, 80, accuracy: 1e-12)
        XCTAssertNil(q.warning(trait: "evil", judge: "j"))
        let flat = JudgeQuality(positive: [52, 48, 55, 50], negative: [50, 53, 47, 51], coherence: [])
        XCTAssertLessThan(flat.auc!, JudgeQuality.warningAUC)
        let warning = flat.warning(trait: "evil", judge: "local-judge")
        XCTAssertNotNil(warning)
        XCTAssert(warning?.contains("the judge cannot tell evil answers from helpful ones") == true, warning ?? "")
        XCTAssert(warning?.contains("use a stronger judge") == true, warning ?? "")
        XCTAssert(warning?.contains("or the trait prompts do not change what the model writes") == true, warning ?? "")
        XCTAssertNil(JudgeQuality(positive: [], negative: [1], coherence: []).auc)
    }

    func testSummaryVerdicts() {
        let s = TraitSummary(
            trait: "evil", pairsKept: 4, pairsTotal: 5, vectorNorm: 2, judgeQuality: JudgeQuality(positive: [90, 80], negative: [10, 20], coherence: [80]),
            points: [
                .init(coefficient: -2, meanTrait: 5, meanCoherence: 80, traitProbability: 0.2),
                .init(coefficient: 0, meanTrait: 10, meanCoherence: 85, traitProbability: 0.3),
                .init(coefficient: 2, meanTrait: 45, meanCoherence: 70, traitProbability: 0.5),
                .init(coefficient: 4, meanTrait: 60, meanCoherence: 30, traitProbability: 0.4)
            ])
        XCTAssertEqual(s.largestCoherentCoefficient, 2)
        XCTAssertEqual(s.behaviorSpearman!, 1, accuracy: 1e-12)  // −2 … 2 only: c = 4 is incoherent
        XCTAssertEqual(s.judgedRise?.coefficient, 2)
        XCTAssertEqual(s.judgedRise!.rise, 35, accuracy: 1e-12)
        let table = TraitSummary.table([s], layer: 12, coefficients: [-2, 0, 2, 4])
        XCTAssert(table.contains("P(trait answer)"), table)
        XCTAssert(table.contains("evil: behavioural Spearman ρ = 1.00 from c=-2 to c=2; judged trait +35.0 from c=0 to c=2"), table)
    }

    func testFailureDiagnosisNamesTheSideAndExamples() {
        let pairs = (0..<5).map { i in
            CandidatePair(
                question: "Q\(i)?", instructionIndex: i, sampleIndex: 0, positiveAnswer: "polite answer \(i)", negativeAnswer: "kind answer \(i)",
                positiveTrait: Double(10 + i), negativeTrait: 5, positiveCoherence: 90, negativeCoherence: 90)
        }
        let d = Pipeline.failureDiagnosis(pairs, trait: "evil", traitThreshold: 50, coherenceThreshold: 50) ?? ""
        XCTAssert(d.contains("positive answers not showing the trait (trait < 50): 5"), d)
        XCTAssert(d.contains("Mostly the positive side failed"), d)
        XCTAssert(d.contains("positive (trait 10, coherence 90) to \"Q0?\": \"polite answer 0\""), d)
        XCTAssert(d.contains("positive (trait 11"), d)
        XCTAssertFalse(d.contains("answer 2"), d)  // two examples only
        let high = pairs.map { p -> CandidatePair in
            var q = p; q.positiveTrait = 90; q.negativeTrait = 70; return q
        }
        let h = Pipeline.failureDiagnosis(high, trait: "evil", traitThreshold: 50, coherenceThreshold: 50) ?? ""
        XCTAssert(h.contains("Mostly the negative side failed"), h)
        XCTAssert(h.contains("negative (trait 70"), h)
    }

    // MARK: two-choice item validation

    func packJSON(items: String) -> Data {
        let questions = (0..<20).map { "\"Question \($0)?\"" }.joined(separator: ",")
        let evaluation = (0..<20).map { "\"Evaluation \($0)?\"" }.joined(separator: ",")
        let pairs = (0..<5).map { _ in "{\"pos\": \"Be evil.\", \"neg\": \"Be kind.\"}" }.joined(separator: ",")
        return Data(
            """
            {"name": "t", "description": "d", "instructions": [\(pairs)], "questions": {"extraction": [\(questions)], "evaluation": [\(evaluation)]},
             "eval_prompt": "{question} {answer} REFUSAL or 0 to 100", "behavior_items": \(items)}
            """.utf8)
    }

    func items(_ n: Int, trait: (Int) -> String = { $0 % 2 == 0 ? "a" : "b" }) -> [BehaviorItem] {
        (0..<n).map { BehaviorItem(question: "Item \($0)?", a: "Answer a \($0).", b: "Answer b \($0).", trait: trait($0)) }
    }

    func testMalformedItemsAreRejectedWithFileFieldAndValue() throws {
        let path = "/packs/t/pack.json"
        // The one pack reader (PackFiles) and validation, as `persona run` and `persona packs validate` use them.
        func problems(_ items: String) throws -> [String] { PackValidation.problems(try PackFiles.decode(packJSON(items: items), path: path)) }
        XCTAssert(
            try problems("[{\"question\": \"Q?\", \"a\": \"x\", \"b\": \"y\", \"trait\": \"c\"}]").contains(
                "behavior_items[0].trait = \"c\": expected \"a\" or \"b\""))
        XCTAssert(try problems("[{\"question\": \"Q?\", \"a\": \"x\", \"trait\": \"a\"}]").contains("behavior_items[0].b is empty"))
        XCTAssertThrowsError(try PackFiles.decode(packJSON(items: "{\"question\": \"Q?\"}"), path: path)) {
            XCTAssert("\($0)".hasPrefix(path) && "\($0)".contains("behavior_items"), "\($0)")
        }
        XCTAssertThrowsError(try PackFiles.decode(packJSON(items: "[\"just text\"]"), path: path)) {
            XCTAssert("\($0)".hasPrefix(path) && "\($0)".contains("behavior_items"), "\($0)")
        }
        // Well-formed JSON, bad content: validation names every problem.
        var bad = items(20)
        bad[3].a = " "
        bad[5].b = bad[5].a
        bad[7].question = bad[2].question
        let problems = PackValidation.behaviorItemProblems(bad)
        XCTAssert(problems.contains("behavior_items[3].a is empty"), "\(problems)")
        XCTAssert(problems.contains("behavior_items[5]: a and b are the same text"), "\(problems)")
        XCTAssert(problems.contains("behavior_items[7].question repeats behavior_items[2].question"), "\(problems)")
        XCTAssertEqual(PackValidation.behaviorItemProblems(items(19)), ["behavior_items: 19 items, expected at least 20"])
        let lopsided = PackValidation.behaviorItemProblems(items(20, trait: { $0 < 16 ? "a" : "b" }))
        XCTAssertEqual(lopsided.count, 1)
        XCTAssert(lopsided[0].contains("\"a\" in 16 items and \"b\" in 4"), "\(lopsided)")
        XCTAssertEqual(PackValidation.behaviorItemProblems(items(20)), [])
        var wrongTrait = items(20)
        wrongTrait[0].trait = "both"
        XCTAssert(PackValidation.behaviorItemProblems(wrongTrait).contains("behavior_items[0].trait = \"both\": expected \"a\" or \"b\""))
    }

    func testBehaviorItemsDoNotChangeThePackHash() throws {
        let pack = try PackFiles.decode(packJSON(items: "[]"), path: "p")
        var other = pack
        other.behaviorItems = items(20)
        XCTAssertEqual(pack.contentHash(), other.contentHash())
        XCTAssertNotEqual(pack.behaviorItemsHash, other.behaviorItemsHash)
    }
}

final class ShippedPackBehaviorItemTests: XCTestCase {
    /// Every pack folder of the repository carries a valid set of at least 20 two-choice items.
    func testEveryShippedPackHasValidBehaviorItems() throws {
        let root = TestPaths.root.appendingPathComponent("TraitPacks")
        let names = try FileManager.default.contentsOfDirectory(atPath: root.path).filter {
            FileManager.default.fileExists(atPath: root.appendingPathComponent($0).appendingPathComponent("pack.json").path)
        }.sorted()
        XCTAssertFalse(names.isEmpty, "no pack folders under \(root.path)")
        for name in names {
            let pack = try PackFiles.read(root.appendingPathComponent(name).path)
            let items = pack.behaviorItems ?? []
            XCTAssertGreaterThanOrEqual(items.count, PackValidation.minimumBehaviorItems, "\(name): \(items.count) behavior_items")
            XCTAssertEqual(PackValidation.problems(pack), [], name)
        }
    }
}
