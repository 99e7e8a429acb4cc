// Steerability diagnostics on hand-checkable inputs.
import XCTest
@testable import PersonaCore

final class SteerabilityTests: XCTestCase {
    func testAntiSteerableFractionCountsFallingItems() {
        let c = [-1.0, 0, 1]
        // Item 0 rises, item 1 falls, item 2 rises, item 3 falls: half are anti-steerable.
        let ratios: [[Double]] = [[-1, 1, -2, 0.5], [0, 0, 0, 0], [1, -1, 2, -0.5]]
        XCTAssertEqual(Steerability.antiSteerableFraction(coefficients: c, logRatios: ratios), 0.5)
        XCTAssertEqual(Steerability.slope([0, 1, 2], [1, 3, 5]), 2)
        XCTAssertNil(Steerability.slope([1, 1], [0, 1]), "one distinct coefficient has no slope")
        // Through probabilities, as the behaviour stage stores them.
        let p = [[0.2, 0.9], [0.5, 0.5], [0.8, 0.1]]
        let d = Steerability.diagnose(
            layer: 3, vector: [1, 0], positive: [], negative: [],
            behavior: zip(c, p).map { ($0, $1) })
        XCTAssertEqual(d.antiSteerableFraction, 0.5)
        XCTAssertEqual(d.itemCount, 2)
        XCTAssertEqual(Steerability.logRatio(fromProbability: 0.5), 0, accuracy: 1e-12)
    }

    func testDifferenceConsistencyAndSeparation() {
        // Differences (1,0), (1,0), (0,1): cosines 1, 0, 0 → mean 1/3.
        let positive: [[Float]] = [[2, 0], [3, 1], [1, 2]]
        let negative: [[Float]] = [[1, 0], [2, 1], [1, 1]]
        let d = Steerability.diagnose(layer: 0, vector: [2, 0], positive: positive, negative: negative, behavior: [])
        XCTAssertEqual(d.differenceConsistency ?? .nan, 1.0 / 3, accuracy: 1e-9)
        XCTAssertEqual(d.pairCount, 3)
        XCTAssertNil(d.antiSteerableFraction)
        // Projections on v̂ = (1,0): positive 2, 3, 1 (mean 2, var 1); negative 1, 2, 1 (mean 4/3, var 1/3);
        // pooled sd = sqrt((2·1 + 2·(1/3)) / 4) = sqrt(2/3).
        XCTAssertEqual(d.projectionSeparation ?? .nan, (2 - 4.0 / 3) / (2.0 / 3).squareRoot(), accuracy: 1e-9)
        XCTAssertNil(Steerability.cohensD([1], [2, 3]))
        XCTAssertNil(Steerability.meanPairwiseCosine([[1, 2]]))
    }
}
