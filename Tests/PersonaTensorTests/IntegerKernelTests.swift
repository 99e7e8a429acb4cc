// The integer kernels (CPersonaIntegerKernels): the AVX2 functions bit-identical to the plain
// reference for every format; the plain reference within a stated bound of float32 products of
// the exactly dequantized weights; results independent of the row count and of the thread split.
import XCTest
import CPersonaIntegerKernels
@testable import PersonaTensor

final class IntegerKernelTests: XCTestCase {
    static let types: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    /// Activations like a residual stream's: mostly small, a few large outliers.
    func randomRows(_ count: Int, _ columns: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<(count * columns)).map { i in
            let v = Float(rng.nextUnit() - 0.5)
            return i % 97 == 0 ? v * 40 : v
        }
    }

    /// Every SIMD level this processor runs equals the plain reference bit for bit, for every format,
    /// row length and row count (a level the processor lacks is skipped, and said).
    func testEverySIMDLevelIsBitIdenticalToPlain() throws {
        let levels = IntegerKernelLevel.supported.filter { $0 != .plain }
        try XCTSkipIf(levels.isEmpty, "this processor has no SIMD integer kernels")
        let missing = IntegerKernelLevel.allCases.filter { !IntegerKernelLevel.supported.contains($0) }
        if !missing.isEmpty { print("IntegerKernelTests: not checked here (the processor lacks them): \(missing)") }
        for type in Self.types {
            for columns in [256, 768, 2048] {
                let rows = 9
                let bytes = matrixBytes(type, rows: rows, columns: columns, seed: UInt64(type.rawValue) * 7 + UInt64(columns))
                try bytes.withUnsafeBytes { raw in
                    let m = try QuantizedMatrix(type: type, rows: rows, columns: columns, bytes: raw, owner: NSObjectBox())
                    XCTAssertTrue(m.supportsInteger, type.name)
                    for count in [1, 5] {
                        let x = randomRows(count, columns, seed: UInt64(columns + count))
                        var plain = [Float](repeating: 0, count: count * rows)
                        x.withUnsafeBufferPointer { m.multiplyInteger($0.baseAddress!, count: count, into: &plain, level: .plain) }
                        for level in levels {
                            var wide = [Float](repeating: 0, count: count * rows)
                            x.withUnsafeBufferPointer { m.multiplyInteger($0.baseAddress!, count: count, into: &wide, level: level) }
                            XCTAssertEqual(plain.map(\.bitPattern), wide.map(\.bitPattern), "\(type.name) columns \(columns) rows \(count) \(level)")
                        }
                    }
                }
            }
        }
    }

    /// The activation quantizer gives the same bytes, scales and sums at every level this processor
    /// runs: rounding ties (x·127/amax exactly k + 0.5), zeros, subnormals, large values, and blocks
    /// holding an infinity or a NaN (d = NaN, q = 0).
    func testQuantizationIsTheSameAtEveryLevel() throws {
        let columns = 256, count = 6
        var x = randomRows(count, columns, seed: 11)
        for i in 0..<32 { x[i] = Float(i) - 15.5 }  // amax 15.5: scaled values k + 0.5 are ties
        for i in 32..<64 { x[i] = 0 }
        for i in 64..<96 { x[i] = Float.leastNonzeroMagnitude * Float(i - 80) }
        x[100] = .infinity; x[140] = -.infinity; x[170] = .nan; x[200] = 3e38
        // Row 1, block 0: amax 1e-39, whose 127/amax overflows a float.
        for i in 0..<32 { x[columns + i] = 1e-39 * Float(i - 16) / 16 }
        try XCTSkipIf(IntegerKernelLevel.supported == [.plain], "this processor has no SIMD quantizer")
        let plain = x.withUnsafeBufferPointer { QuantizedActivations($0.baseAddress!, count: count, columns: columns, level: .plain) }
        for level in IntegerKernelLevel.supported where level != .plain {
            let other = x.withUnsafeBufferPointer { QuantizedActivations($0.baseAddress!, count: count, columns: columns, level: level) }
            let blocks = count * columns / 32
            XCTAssertEqual(
                Array(UnsafeBufferPointer(start: other.values, count: count * columns)),
                Array(UnsafeBufferPointer(start: plain.values, count: count * columns)), "\(level) values")
            XCTAssertEqual(
                UnsafeBufferPointer(start: other.scales, count: blocks).map(\.bitPattern),
                UnsafeBufferPointer(start: plain.scales, count: blocks).map(\.bitPattern), "\(level) scales")
            XCTAssertEqual(
                Array(UnsafeBufferPointer(start: other.sums, count: blocks)),
                Array(UnsafeBufferPointer(start: plain.sums, count: blocks)), "\(level) sums")
        }
        XCTAssert(plain.scales[3].isNaN && plain.scales[4].isNaN && plain.scales[5].isNaN, "blocks with inf or NaN have d = NaN")
        // The tiny block keeps its shape (it once came out all −127: (int) of an infinity).
        let tiny = (0..<32).map { plain.values[columns + $0] }
        XCTAssertEqual(tiny.first, -127)
        XCTAssertEqual(tiny[16], 0)
        XCTAssertEqual(tiny.last, Int8((127.0 * 15 / 16).rounded()))
        XCTAssertEqual(plain.sums[columns / 32], tiny.reduce(0) { $0 + Int32($1) })
    }

    /// The stated bound of the integer path against float32: with x̂ = d·q the quantized activation
    /// (|x − x̂| ≤ d/2 per element, d = max|x| / 127 of its block),
    ///   |y_int − y_f32| ≤ Σ_i |w_i| · d_i / 2  +  1e-5 · Σ_i |w_i| · (|x_i| + d_i)
    /// (the second term: float rounding of the scales and of both sums).
    func testPlainReferenceWithinBoundOfFloat32() throws {
        for type in Self.types {
            let rows = 17, columns = 1024
            let bytes = matrixBytes(type, rows: rows, columns: columns, seed: UInt64(type.rawValue) + 300)
            let weights = try bytes.withUnsafeBytes { try Dequantize.toFloats(type: type, from: $0, elements: rows * columns) }
            try bytes.withUnsafeBytes { raw in
                let m = try QuantizedMatrix(type: type, rows: rows, columns: columns, bytes: raw, owner: NSObjectBox())
                let count = 3
                let x = randomRows(count, columns, seed: 5)
                var y = [Float](repeating: 0, count: count * rows)
                x.withUnsafeBufferPointer { m.multiplyInteger($0.baseAddress!, count: count, into: &y, level: .plain) }
                var worst: Float = 0
                for r in 0..<count {
                    let xr = Array(x[r * columns..<(r + 1) * columns])
                    let d = (0..<(columns / 32)).map { b in xr[32 * b..<32 * b + 32].map(abs).max()! / 127 }
                    for o in 0..<rows {
                        var exact = 0.0, quantization = 0.0, magnitude = 0.0
                        for i in 0..<columns {
                            let w = Double(weights[o * columns + i])
                            exact += w * Double(xr[i])
                            quantization += abs(w) * Double(d[i / 32]) / 2
                            magnitude += abs(w) * (Double(abs(xr[i])) + Double(d[i / 32]))
                        }
                        let bound = quantization + 1e-5 * magnitude
                        let error = abs(Double(y[r * rows + o]) - exact)
                        XCTAssertLessThanOrEqual(error, bound, "\(type.name) row \(r) output \(o)")
                        worst = max(worst, Float(error / max(bound, 1e-30)))
                    }
                }
                print("integer \(type.name): worst error / bound = \(worst)")
            }
        }
    }

    func testIndependentOfRowCountAndThreads() throws {
        for type in Self.types {
            let rows = 300, columns = 512
            let bytes = matrixBytes(type, rows: rows, columns: columns, seed: UInt64(type.rawValue) + 400)
            try bytes.withUnsafeBytes { raw in
                let m = try QuantizedMatrix(type: type, rows: rows, columns: columns, bytes: raw, owner: NSObjectBox())
                let count = 33
                let x = randomRows(count, columns, seed: 9)
                var all = [Float](repeating: 0, count: count * rows), threaded = all
                x.withUnsafeBufferPointer { xp in
                    m.multiplyInteger(xp.baseAddress!, count: count, into: &all, threads: 1)
                    m.multiplyInteger(xp.baseAddress!, count: count, into: &threaded, threads: 2)
                    for r in [0, 17, 32] {
                        var one = [Float](repeating: 0, count: rows)
                        m.multiplyInteger(xp.baseAddress! + r * columns, count: 1, into: &one)
                        XCTAssertEqual(one.map(\.bitPattern), all[r * rows..<(r + 1) * rows].map(\.bitPattern), "\(type.name) row \(r)")
                    }
                }
                XCTAssertEqual(all.map(\.bitPattern), threaded.map(\.bitPattern), type.name)
            }
        }
    }

    func testNonFiniteActivationGivesNaNNotACrash() throws {
        let type = GGMLType.q8_0, rows = 2, columns = 64
        let bytes = matrixBytes(type, rows: rows, columns: columns, seed: 1)
        try bytes.withUnsafeBytes { raw in
            let m = try QuantizedMatrix(type: type, rows: rows, columns: columns, bytes: raw, owner: NSObjectBox())
            var x = randomRows(1, columns, seed: 2); x[3] = .infinity
            var y = [Float](repeating: 0, count: rows)
            m.multiplyInteger(x, count: 1, into: &y)
            XCTAssertTrue(y.allSatisfy(\.isNaN))
        }
    }
}
