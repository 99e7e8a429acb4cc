// Fast kernels against the plain ones: SIMD row decoders bit-equal to the reference decoders,
// grouped dot products bit-equal to single ones, and the quantized matrix product independent of
// how many rows share it.
import XCTest
@testable import PersonaTensor

final class KernelTests: XCTestCase {
    func randomBytes(_ n: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    /// Random blocks with finite half scales (random bytes could make d a NaN or inf).
    func blocks(_ type: GGMLType, count: Int, seed: UInt64) -> [UInt8] {
        var bytes = randomBytes(type.typeSize * count, seed: seed)
        let halfOffsets: [Int]
        switch type {
        case .q8_0, .q4_0, .q5_0: halfOffsets = [0]
        case .q4_1, .q5_1, .q4_K, .q5_K: halfOffsets = [0, 2]
        case .q6_K: halfOffsets = [208]
        case .q2_K: halfOffsets = [80, 82]
        case .q3_K: halfOffsets = [108]
        default: halfOffsets = []
        }
        for b in 0..<count { for o in halfOffsets { bytes[b * type.typeSize + o + 1] &= 0x3B } }  // |d| < 1, finite
        return bytes
    }

    func testRowDecodersMatchReference() throws {
        for type in [GGMLType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K, .q2_K, .q3_K] {
            let n = 512
            let bytes = blocks(type, count: n / type.blockSize, seed: UInt64(type.rawValue))
            let reference = try bytes.withUnsafeBytes { try Dequantize.toFloats(type: type, from: $0, elements: n) }
            var fast = [Float](repeating: 0, count: n)
            let decode = try XCTUnwrap(RowDecoders.decoder(for: type))
            bytes.withUnsafeBytes { raw in fast.withUnsafeMutableBufferPointer { decode(raw.baseAddress!, $0.baseAddress!, n) } }
            XCTAssertEqual(fast.map(\.bitPattern), reference.map(\.bitPattern), type.name)
        }
    }

    func testGroupedDotsEqualSingleDots() {
        var rng = SplitMix64(seed: 9)
        let n = 900
        let rows = (0..<4).map { _ in (0..<n).map { _ in Float(rng.nextUnit() - 0.5) } }
        let w = (0..<n).map { _ in Float(rng.nextUnit() - 0.5) }
        let grouped = Vector.dot4(rows[0], rows[1], rows[2], rows[3], w, count: n)
        XCTAssertEqual([grouped.0, grouped.1, grouped.2, grouped.3].map(\.bitPattern), rows.map { Vector.dot($0, w, count: n).bitPattern })
    }

    func testQuantizedProductDoesNotDependOnRowCount() throws {
        let rows = 96, columns = 512
        let bytes = blocks(.q4_K, count: rows * columns / 256, seed: 5)
        let owner = NSObjectBox()
        try bytes.withUnsafeBytes { raw in
            let m = try QuantizedMatrix(type: .q4_K, rows: rows, columns: columns, bytes: raw, owner: owner)
            var rng = SplitMix64(seed: 11)
            let x = (0..<(7 * columns)).map { _ in Float(rng.nextUnit() - 0.5) }
            var all = [Float](repeating: 0, count: 7 * rows)
            m.multiply(x, count: 7, into: &all)
            for r in 0..<7 {
                var one = [Float](repeating: 0, count: rows)
                Array(x[(r * columns)..<((r + 1) * columns)]).withUnsafeBufferPointer { m.multiply($0.baseAddress!, count: 1, into: &one) }
                XCTAssertEqual(one.map(\.bitPattern), all[(r * rows)..<((r + 1) * rows)].map(\.bitPattern), "row \(r)")
            }
        }
    }
}

final class NSObjectBox {}
