// Small float32 kernels used by the forward pass. Reductions use SIMD accumulators (plain float
// loops do not auto-vectorize reductions; SWIFT-NOTES.md); element-wise loops are left plain.
import Foundation

public enum Vector {
    /// Σ a[i]·b[i].
    @inlinable @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD16<Float>()
        var i = 0
        while i + 16 <= n {
            let x = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self)
            let y = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
            acc += x * y
            i += 16
        }
        var sum = acc.sum()
        while i < n { sum += a[i] * b[i]; i += 1 }
        return sum
    }

    /// Four dot products against one shared vector `w`: out[k] = Σ x_k[i]·w[i]. Each result is
    /// bit-identical to `dot(x_k, w)` (same lanes, same order), so grouping rows never changes them.
    @inlinable @inline(__always)
    public static func dot4(
        _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>, _ x3: UnsafePointer<Float>,
        _ w: UnsafePointer<Float>, count n: Int
    ) -> (Float, Float, Float, Float) {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var i = 0
        while i + 16 <= n {
            let v = UnsafeRawPointer(w + i).loadUnaligned(as: SIMD16<Float>.self)
            a0 += UnsafeRawPointer(x0 + i).loadUnaligned(as: SIMD16<Float>.self) * v
            a1 += UnsafeRawPointer(x1 + i).loadUnaligned(as: SIMD16<Float>.self) * v
            a2 += UnsafeRawPointer(x2 + i).loadUnaligned(as: SIMD16<Float>.self) * v
            a3 += UnsafeRawPointer(x3 + i).loadUnaligned(as: SIMD16<Float>.self) * v
            i += 16
        }
        var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum()
        while i < n {
            s0 += x0[i] * w[i]; s1 += x1[i] * w[i]; s2 += x2[i] * w[i]; s3 += x3[i] * w[i]
            i += 1
        }
        return (s0, s1, s2, s3)
    }

    /// Σ a[i]².
    @inlinable @inline(__always)
    public static func sumOfSquares(_ a: UnsafePointer<Float>, count n: Int) -> Float { dot(a, a, count: n) }

    /// y[i] += alpha · x[i].
    @inlinable @inline(__always)
    public static func addScaled(_ x: UnsafePointer<Float>, _ alpha: Float, into y: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { y[i] += alpha * x[i] }
    }

    /// y[i] += x[i].
    @inlinable @inline(__always)
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { y[i] += x[i] }
    }

    /// RMSNorm as Hugging Face computes it in float32: out = x · rsqrt(mean(x²) + ε) · weight.
    @inlinable
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, epsilon: Float,
        into out: UnsafeMutablePointer<Float>, count n: Int
    ) {
        let meanSquare = sumOfSquares(x, count: n) / Float(n)
        let scale = 1 / (meanSquare + epsilon).squareRoot()
        for i in 0..<n { out[i] = weight[i] * (x[i] * scale) }
    }

    /// In-place softmax over n values.
    @inlinable
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        var maximum = -Float.infinity
        for i in 0..<n where x[i] > maximum { maximum = x[i] }
        var sum: Float = 0
        for i in 0..<n {
            let e = expf(x[i] - maximum)
            x[i] = e
            sum += e
        }
        let inverse = 1 / sum
        for i in 0..<n { x[i] *= inverse }
    }

    /// gate[i] = silu(gate[i]) · up[i], the SwiGLU activation.
    @inlinable
    public static func siluMultiply(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n {
            let g = gate[i]
            gate[i] = g / (1 + expf(-g)) * up[i]
        }
    }
}
