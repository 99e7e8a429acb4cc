// The search's choice on a constructed grid: the best coherent point, not the largest effect.
import XCTest
@testable import PersonaCore

final class SteeringSearchTests: XCTestCase {
    func point(_ l: Int, _ c: Double, effect: Double, kl: Double) -> SearchPoint {
        SearchPoint(layer: l, coefficient: c, rawCoefficient: c * 10, traitProbability: 0.5 + effect, effect: effect, coherenceCost: kl)
    }

    func testPicksTheConstructedBestPoint() {
        var grid: [SearchPoint] = []
        for l in [4, 8, 12] {
            for c in [-0.2, 0, 0.1, 0.2, 0.4] {
                // Effect grows with c and is largest at layer 8; cost grows with |c|, fastest at layer 12.
                let effect = c * (l == 8 ? 1.0 : 0.5)
                let kl = c == 0 ? 0 : abs(c) * (l == 12 ? 4.0 : 1.0) + (c == 0.4 ? 0.5 : 0)
                grid.append(point(l, c, effect: effect, kl: kl))
            }
        }
        // (8, 0.4): effect 0.4 but KL 0.9 > 0.5; (8, 0.2): effect 0.2, KL 0.2 — the constructed best.
        let (chosen, reason) = SteeringSearch.choose(grid, maxKL: 0.5)
        XCTAssertEqual(chosen?.layer, 8)
        XCTAssertEqual(chosen?.coefficient, 0.2)
        XCTAssertTrue(reason.contains("broke coherence"), reason)
        // A looser floor admits the stronger point.
        XCTAssertEqual(SteeringSearch.choose(grid, maxKL: 1.0).point?.coefficient, 0.4)
    }

    func testNoChoiceSaysWhy() {
        let broken = [point(3, 0, effect: 0, kl: 0), point(3, 1, effect: 0.3, kl: 2)]
        let (none, reason) = SteeringSearch.choose(broken, maxKL: 0.5)
        XCTAssertNil(none)
        XCTAssertTrue(reason.contains("cheapest costs 2.00"), reason)
        let wrongWay = [point(3, 0, effect: 0, kl: 0), point(3, 1, effect: -0.1, kl: 0.1)]
        XCTAssertNil(SteeringSearch.choose(wrongWay, maxKL: 0.5).point)
    }
}
