import XCTest
@testable import PersonaTensor

final class BLASTests: XCTestCase {
    /// sgemm through OpenBLAS agrees with a plain triple loop.
    func testMatmulTransposedBMatchesNaive() {
        let m = 5, n = 7, k = 13
        var rng = SplitMix64(seed: 42)
        let a = (0..<(m * k)).map { _ in Float(rng.nextUnit() - 0.5) }
        let b = (0..<(n * k)).map { _ in Float(rng.nextUnit() - 0.5) }
        var c = [Float](repeating: 0, count: m * n)
        BLAS.matmulTransposedB(a, b, &c, m: m, n: n, k: k)
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for t in 0..<k { s += a[i * k + t] * b[j * k + t] }
                XCTAssertEqual(c[i * n + j], s, accuracy: 1e-5)
            }
        }
        var c2 = [Float](repeating: 0, count: m * n)
        let bT = (0..<(k * n)).map { idx in b[(idx % n) * k + idx / n] }
        BLAS.matmul(a, bT, &c2, m: m, n: n, k: k)
        for i in 0..<(m * n) { XCTAssertEqual(c[i], c2[i], accuracy: 1e-5) }
    }
}

/// A small seeded generator for tests.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
