// Written contrast: the extraction and measurement halves, and the vector's arithmetic on fixed inputs.
import XCTest
import PersonaTestSupport
import PersonaModel
@testable import PersonaCore

final class WrittenContrastTests: XCTestCase {
    func testHalvesNeverOverlapAndCoverEveryItem() {
        for n in [0, 1, 2, 7, 24, 25] {
            let (e, m) = WrittenContrast.split(count: n)
            XCTAssertTrue(Set(e).isDisjoint(with: m), "n = \(n)")
            XCTAssertEqual(Set(e).union(m), Set(0..<n), "n = \(n)")
            XCTAssertEqual(WrittenContrast.split(count: n).extraction, e, "deterministic")
            XCTAssertLessThanOrEqual(abs(e.count - m.count), 1)
        }
    }

    func testVectorEqualsHandComputedMeans() throws {
        let model = try TinyModel.make()
        let positive = [
            TeacherForcedSequence(promptTokens: [3, 9, 14], answerTokens: [5, 6]),
            TeacherForcedSequence(promptTokens: [2, 7], answerTokens: [11, 12, 13])
        ]
        let negative = [
            TeacherForcedSequence(promptTokens: [3, 9, 14], answerTokens: [20, 21, 22]),
            TeacherForcedSequence(promptTokens: [2, 7], answerTokens: [30])
        ]
        let v = Pipeline.meanDifference(
            positive: try WrittenContrast.answerMeans(positive, transformer: model, batchSize: 2),
            negative: try WrittenContrast.answerMeans(negative, transformer: model, batchSize: 1))
        // By hand: each sequence alone, rows at answer positions averaged, then mean(pos) − mean(neg).
        func answerMean(_ s: TeacherForcedSequence) throws -> [[Double]] {
            let recorder = AllLayerRecorder()
            try model.withHooks([recorder]) {
                _ = try model.forward([SequenceInput(tokens: s.promptTokens + s.answerTokens, cache: model.makeCache())], logits: .none)
            }
            return (0..<2).map { l in
                let rows = recorder.rows[l]!.suffix(s.answerTokens.count)
                return (0..<16).map { j in rows.map { Double($0[j]) }.reduce(0, +) / Double(rows.count) }
            }
        }
        let p = try positive.map(answerMean), n = try negative.map(answerMean)
        var maxDiff = 0.0
        for l in 0..<2 {
            for j in 0..<16 {
                let expected = (p[0][l][j] + p[1][l][j]) / 2 - (n[0][l][j] + n[1][l][j]) / 2
                maxDiff = max(maxDiff, abs(expected - Double(v[l][j])))
            }
        }
        XCTAssertLessThan(maxDiff, 1e-4, "max difference \(maxDiff)")
    }
}
