import XCTest
@testable import PersonaTensor

final class BLASDeterminismTests: XCTestCase {
    /// A row's result must not depend on how many other rows share the sgemm call (batch independence).
    func testRowResultsDoNotDependOnBatchSize() {
        let n = 896, k = 896
        var rng = SplitMix64(seed: 3)
        let b = (0..<(n * k)).map { _ in Float(rng.nextUnit() - 0.5) }
        for m in [2, 3, 8, 16, 32, 64, 256] {
            let a = (0..<(m * k)).map { _ in Float(rng.nextUnit() - 0.5) }
            var batched = [Float](repeating: 0, count: m * n)
            BLAS.matmulTransposedB(a, b, &batched, m: m, n: n, k: k)
            for r in [0, m / 2, m - 1] {
                var pair = [Float](repeating: 0, count: 2 * n)
                (Array(a[(r * k)..<((r + 1) * k)]) + [Float](repeating: 0, count: k)).withUnsafeBufferPointer { row in
                    BLAS.matmulTransposedB(row.baseAddress!, b, &pair, m: 2, n: n, k: k)
                }
                let alone = Array(pair[0..<n])
                let same = zip(alone, batched[(r * n)..<((r + 1) * n)]).allSatisfy { $0.bitPattern == $1.bitPattern }
                XCTAssertTrue(same, "m=\(m) row \(r) differs from the row alone")
            }
        }
    }
}
