// Kernel speed probe, not a correctness test: runs only with PERSONA_KERNEL_SPEED=1 and prints
// nanoseconds of thread CPU time per weight element (robust to other processes sharing the
// machine), one thread, for each fused format at 1 row and per row-element at 32 rows.
import XCTest
import Foundation
@testable import PersonaTensor

final class KernelSpeedTests: XCTestCase {
    func threadSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    func testPrintKernelSpeed() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["PERSONA_KERNEL_SPEED"] == "1", "set PERSONA_KERNEL_SPEED=1")
        let shapes: [(GGMLType, Int, Int)] = [(.q5_0, 4864, 896), (.q8_0, 8192, 896), (.q6_K, 896, 4864), (.q4_K, 896, 4864), (.q4_1, 1536, 576)]
        for (type, rows, columns) in shapes {
            var rng = SplitMix64(seed: 1)
            var bytes = (0..<(rows * columns / type.blockSize * type.typeSize)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let halfOffset = type == .q6_K ? 208 : 0
            for b in 0..<(bytes.count / type.typeSize) { bytes[b * type.typeSize + halfOffset + 1] &= 0x3B }
            try bytes.withUnsafeBytes { raw in
                let m = try QuantizedMatrix(type: type, rows: rows, columns: columns, bytes: raw, owner: NSObjectBox())
                for count in [1, 32] {
                    let x = (0..<(count * columns)).map { _ in Float(rng.nextUnit() - 0.5) }
                    var y = [Float](repeating: 0, count: count * rows)
                    m.multiply(x, count: count, into: &y, threads: 1)
                    let repeats = count == 1 ? 20 : 2
                    let t0 = threadSeconds()
                    for _ in 0..<repeats { m.multiply(x, count: count, into: &y, threads: 1) }
                    let fused = (threadSeconds() - t0) / Double(repeats * rows * columns * count) * 1e9
                    let t1 = threadSeconds()
                    m.multiplyPlain(x, count: count, into: &y, threads: 1)
                    let plain = (threadSeconds() - t1) / Double(rows * columns * count) * 1e9
                    print(String(format: "speed %@ [%d × %d] rows %2d: fused %.4f ns/element, plain %.4f", type.name, rows, columns, count, fused, plain))
                }
            }
        }
    }
}
