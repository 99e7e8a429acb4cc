// The fused quantized kernels (PersonaKernels) against the plain path: decoders bit-equal to the
// reference dequantizer; products within `fusedTolerance` of plain decode + dot (they use fused
// multiply-add, so they round differently); results independent of the row count and of the
// thread split, bit for bit; the AVX-512 build bit-identical to the AVX2 build. Skipped on processors
// the fused kernels cannot run on.
import XCTest
import PersonaKernels
import PersonaKernelsAVX512
@testable import PersonaTensor

/// `rows` rows of `columns` random elements of `type` (finite scales; f32 values in ±1), for
/// every kernel test of this target (fused and integer).
func matrixBytes(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
    if type == .f32 {
        var rng = SplitMix64(seed: seed)
        let values = (0..<(rows * columns)).map { _ in Float(rng.nextUnit() * 2 - 1) }
        return values.withUnsafeBytes { Array($0) }
    }
    // Random blocks with finite half scales: |d| < 1 (as KernelTests.blocks).
    let count = rows * columns / type.blockSize
    var rng = SplitMix64(seed: seed)
    var bytes = (0..<(type.typeSize * count)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    let halfOffsets: [Int]
    switch type {
    case .q8_0, .q4_0, .q5_0: halfOffsets = [0]
    case .q4_1, .q5_1, .q4_K, .q5_K: halfOffsets = [0, 2]
    case .q2_K: halfOffsets = [80, 82]
    case .q3_K: halfOffsets = [108]
    case .q6_K: halfOffsets = [208]
    default: halfOffsets = []
    }
    for b in 0..<count { for o in halfOffsets { bytes[b * type.typeSize + o + 1] &= 0x3B } }
    return bytes
}

final class FusedKernelTests: XCTestCase {
    /// |fused − plain| ≤ fusedTolerance · Σ_i |x_i · w_i| for every output.
    static let fusedTolerance: Float = 1e-5

    static let formats: [(GGMLType, PersonaKernels.FusedFormat)] = [
        (.f32, .f32), (.q8_0, .q8_0), (.q4_0, .q4_0), (.q4_1, .q4_1),
        (.q5_0, .q5_0), (.q4_K, .q4_K), (.q6_K, .q6_K)
    ]

    override func setUpWithError() throws {
        try XCTSkipUnless(FusedSupport.isAvailable, "this processor cannot run the fused kernels")
    }

    func randomRows(_ count: Int, _ columns: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<(count * columns)).map { _ in Float(rng.nextUnit() - 0.5) }
    }

    func testFusedDecodersMatchReference() throws {
        for (type, format) in Self.formats {
            let rows = 3, columns = 512
            let bytes = matrixBytes(type, rows: rows, columns: columns, seed: UInt64(type.rawValue) + 100)
            let reference = try bytes.withUnsafeBytes { try Dequantize.toFloats(type: type, from: $0, elements: rows * columns) }
            var fast = [Float](repeating: 0, count: rows * columns)
            let rowBytes = try XCTUnwrap(type.byteCount(elements: columns))
            bytes.withUnsafeBytes { raw in
                fast.withUnsafeMutableBufferPointer {
                    PersonaKernels.FusedKernels.decode(
                        format: format, data: raw.baseAddress!, rowBytes: rowBytes, columns: columns,
                        outputs: 0..<rows, into: $0.baseAddress!)
                }
            }
            XCTAssertEqual(fast.map(\.bitPattern), reference.map(\.bitPattern), type.name)
        }
    }

    func testFusedProductMatchesPlainPath() throws {
        // Odd row count: the single-row tails run too; 1280 columns: more than one k-block.
        for columns in [768, 1280] { try checkAgainstPlain(rows: 37, columns: columns) }
    }

    func checkAgainstPlain(rows: Int, columns: Int) throws {
        for (type, _) in Self.formats {
            let bytes = matrixBytes(type, rows: rows, columns: columns, seed: UInt64(type.rawValue) + 200)
            let weights = try bytes.withUnsafeBytes { try Dequantize.toFloats(type: type, from: $0, elements: rows * columns) }
            try bytes.withUnsafeBytes { raw in
                let m = try QuantizedMatrix(type: type, rows: rows, columns: columns, bytes: raw, owner: NSObjectBox())
                XCTAssertTrue(m.usesFusedKernels, type.name)
                for count in [1, 2, 3, 5, 8] {
                    let x = randomRows(count, columns, seed: UInt64(count))
                    var fused = [Float](repeating: 0, count: count * rows), plain = fused
                    m.multiply(x, count: count, into: &fused)
                    m.multiplyPlain(x, count: count, into: &plain)
                    var worst: Float = 0
                    for r in 0..<count {
                        for o in 0..<rows {
                            var magnitude: Float = 0
                            for i in 0..<columns { magnitude += abs(x[r * columns + i] * weights[o * columns + i]) }
                            let error = abs(fused[r * rows + o] - plain[r * rows + o]) / max(magnitude, .leastNormalMagnitude)
                            worst = max(worst, error)
                        }
                    }
                    XCTAssertLessThanOrEqual(worst, Self.fusedTolerance, "\(type.name), \(count) rows: relative error \(worst)")
                }
            }
        }
    }

    func testFusedProductDoesNotDependOnRowCountOrThreads() throws {
        // 1280 columns: longer than one k-block of the tiled kernel (accumulators parked between).
        for columns in [512, 1280] { try checkIndependence(columns: columns) }
    }

    func checkIndependence(columns: Int) throws {
        let rows = 150
        for (type, _) in Self.formats {
            let bytes = matrixBytes(type, rows: rows, columns: columns, seed: UInt64(type.rawValue) + 300)
            try bytes.withUnsafeBytes { raw in
                let m = try QuantizedMatrix(type: type, rows: rows, columns: columns, bytes: raw, owner: NSObjectBox())
                let count = 11
                let x = randomRows(count, columns, seed: 7)
                var all = [Float](repeating: 0, count: count * rows)
                m.multiply(x, count: count, into: &all, threads: 2)
                var oneThread = all
                m.multiply(x, count: count, into: &oneThread, threads: 1)
                XCTAssertEqual(all.map(\.bitPattern), oneThread.map(\.bitPattern), "\(type.name) × \(columns): thread split")
                // Every prefix size (single-row path, tiled path, every micro-kernel remainder).
                for prefix in 1..<count {
                    var some = [Float](repeating: 0, count: prefix * rows)
                    m.multiply(x, count: prefix, into: &some)
                    XCTAssertEqual(some.map(\.bitPattern), all[..<(prefix * rows)].map(\.bitPattern), "\(type.name) × \(columns): \(prefix) rows")
                }
            }
        }
    }

    /// The AVX-512 build of the kernels gives the AVX2 build's results bit for bit (decoders and
    /// products, every row count and thread split): the level changes the speed, never a result.
    func testAVX512KernelsMatchAVX2BitForBit() throws {
        try XCTSkipUnless(FusedSupport.supported.contains(.avx512), "this processor has no AVX-512 (F, CD, BW, DQ, VL)")
        for (type, format) in Self.formats {
            for columns in [512, 1280] {
                let rows = 70
                let bytes = matrixBytes(type, rows: rows, columns: columns, seed: UInt64(type.rawValue) + 400)
                let rowBytes = try XCTUnwrap(type.byteCount(elements: columns))
                let wideFormat = try XCTUnwrap(PersonaKernelsAVX512.FusedFormat(rawValue: format.rawValue))
                try bytes.withUnsafeBytes { raw in
                    var narrowDecoded = [Float](repeating: 0, count: rows * columns), wideDecoded = narrowDecoded
                    narrowDecoded.withUnsafeMutableBufferPointer {
                        PersonaKernels.FusedKernels.decode(
                            format: format, data: raw.baseAddress!, rowBytes: rowBytes, columns: columns,
                            outputs: 0..<rows, into: $0.baseAddress!)
                    }
                    wideDecoded.withUnsafeMutableBufferPointer {
                        PersonaKernelsAVX512.FusedKernels.decode(
                            format: wideFormat, data: raw.baseAddress!, rowBytes: rowBytes,
                            columns: columns, outputs: 0..<rows, into: $0.baseAddress!)
                    }
                    XCTAssertEqual(wideDecoded.map(\.bitPattern), narrowDecoded.map(\.bitPattern), "\(type.name): decode")

                    let narrow = try QuantizedMatrix(type: type, rows: rows, columns: columns, bytes: raw, owner: NSObjectBox(), kernels: .avx2)
                    let wide = try QuantizedMatrix(type: type, rows: rows, columns: columns, bytes: raw, owner: NSObjectBox(), kernels: .avx512)
                    XCTAssertEqual(narrow.kernelLevel, .avx2, type.name)
                    XCTAssertEqual(wide.kernelLevel, .avx512, type.name)
                    for count in [1, 2, 3, 5, 6, 8, 11, 13, 32] {
                        let x = randomRows(count, columns, seed: UInt64(count) + 40)
                        for threads in [1, 2] {
                            var a = [Float](repeating: 0, count: count * rows), b = a
                            narrow.multiply(x, count: count, into: &a, threads: threads)
                            wide.multiply(x, count: count, into: &b, threads: threads)
                            XCTAssertEqual(
                                b.map(\.bitPattern), a.map(\.bitPattern),
                                "\(type.name) × \(columns), \(count) rows, \(threads) threads")
                        }
                    }
                }
            }
        }
    }

    /// A level the processor lacks is never taken; `.plain` turns the fused kernels off.
    func testKernelLevelIsLoweredToWhatTheProcessorRuns() throws {
        let bytes = matrixBytes(.q8_0, rows: 4, columns: 64, seed: 9)
        try bytes.withUnsafeBytes { raw in
            for wanted in KernelLevel.allCases {
                let m = try QuantizedMatrix(type: .q8_0, rows: 4, columns: 64, bytes: raw, owner: NSObjectBox(), kernels: wanted)
                XCTAssertTrue(FusedSupport.supported.contains(m.kernelLevel), "\(wanted) became \(m.kernelLevel)")
                XCTAssertLessThanOrEqual(m.kernelLevel, wanted)
                XCTAssertEqual(m.usesFusedKernels, m.kernelLevel != .plain)
            }
            let plain = try QuantizedMatrix(type: .q8_0, rows: 4, columns: 64, bytes: raw, owner: NSObjectBox(), kernels: .plain)
            XCTAssertEqual(plain.kernelLevel, .plain)
        }
    }
}
