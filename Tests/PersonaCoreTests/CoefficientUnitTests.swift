// Norm-calibrated coefficients: the conversion, and the mean residual norm it rests on.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaModel
@testable import PersonaCore

final class CoefficientUnitTests: XCTestCase {
    func testNormUnitMeansAddedLengthOverMeanResidualNorm() {
        let v: [Float] = [3, 4]  // ‖v‖ = 5
        let meanNorm = 20.0
        let raw = CoefficientUnit.norm.rawCoefficient(0.5, meanNorm: meanNorm, vectorNorm: ResidualNorms.norm(v))
        XCTAssertEqual(raw, 2, accuracy: 1e-12)  // 0.5 × 20 / 5
        // The added vector raw·v is half the mean residual norm long.
        XCTAssertEqual(ResidualNorms.norm(v.map { Float(raw) * $0 }), 0.5 * meanNorm, accuracy: 1e-5)
        XCTAssertEqual(CoefficientUnit.normCoefficient(raw: raw, meanNorm: meanNorm, vectorNorm: 5), 0.5, accuracy: 1e-12)
        XCTAssertEqual(CoefficientUnit.raw.rawCoefficient(0.5, meanNorm: meanNorm, vectorNorm: 5), 0.5)
        XCTAssertEqual(CoefficientUnit.norm.rawCoefficient(1, meanNorm: meanNorm, vectorNorm: 0), 0, "a zero vector adds nothing in any unit")
    }

    func testMeanResidualNormSkipsPositionZero() throws {
        let model = try TinyModel.make()
        let prompts = [[3, 9, 14, 2], [5, 6, 7]]
        let norms = try ResidualNorms.measure(prompts: prompts, transformer: model, batchSize: 1)
        // By hand: every row at position ≥ 1 of each prompt, each prompt alone.
        var sums = [Double](repeating: 0, count: 2), counts = [Int](repeating: 0, count: 2)
        for p in prompts {
            let recorder = AllLayerRecorder()
            try model.withHooks([recorder]) { _ = try model.forward([SequenceInput(tokens: p, cache: model.makeCache())], logits: .none) }
            for l in 0..<2 {
                for row in recorder.rows[l]!.dropFirst() { sums[l] += ResidualNorms.norm(row); counts[l] += 1 }
            }
        }
        XCTAssertEqual(counts, [5, 5])
        for l in 0..<2 { XCTAssertEqual(norms[l], sums[l] / Double(counts[l]), accuracy: 1e-4 * norms[l], "layer \(l)") }
    }

    func testReportShowsBothUnits() {
        var t = TraitReport(
            trait: "t", pairsTotal: 1, pairsKept: 1, dropReasons: [:], vectorNorms: [5, 10], steeringLayer: 1,
            steering: [], projections: [], promptLastCorrelation: nil, examples: [])
        XCTAssertNil(t.bothUnits(1), "no norms, no conversion")
        t.meanResidualNorms = [1, 40]
        t.coefficientUnit = "norm"
        XCTAssertEqual(t.bothUnits(0.25)?.raw ?? .nan, 1, accuracy: 1e-12)  // 0.25 × 40 / 10
        t.coefficientUnit = "raw"
        XCTAssertEqual(t.bothUnits(2)?.norm ?? .nan, 0.5, accuracy: 1e-12)  // 2 × 10 / 40
    }
}
