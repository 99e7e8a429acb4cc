import XCTest
@testable import PersonaTensor

/// What the engine relies on from OpenBLAS: the same call on the same data gives bit-identical
/// results (threads do not change the order of sums). It does NOT rely on a row's result being
/// independent of how many rows share the call: on some CPUs OpenBLAS picks different kernels by
/// shape, so the transformer multiplies each sequence's prefill rows in a call of their own.
final class BLASDeterminismTests: XCTestCase {
    func testRepeatedCallsAreBitIdentical() {
        var rng = SplitMix64(seed: 3)
        for (m, n, k) in [(2, 896, 896), (37, 4864, 896), (256, 896, 4864), (5, 13, 576)] {
            let a = (0..<(m * k)).map { _ in Float(rng.nextUnit() - 0.5) }
            let b = (0..<(n * k)).map { _ in Float(rng.nextUnit() - 0.5) }
            var first = [Float](repeating: 0, count: m * n), second = first
            BLAS.matmulTransposedB(a, b, &first, m: m, n: n, k: k)
            BLAS.matmulTransposedB(a, b, &second, m: m, n: n, k: k)
            XCTAssertEqual(first.map(\.bitPattern), second.map(\.bitPattern), "m=\(m) n=\(n) k=\(k)")
        }
    }
}
