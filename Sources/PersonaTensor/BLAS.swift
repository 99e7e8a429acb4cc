// OpenBLAS bridge: the few BLAS calls the engine uses, with Swift-friendly shapes.
import COpenBLAS
import Foundation
import COpenBLASCore

public enum BLAS {
    /// C[m, n] = alpha * A[m, k] · B[n, k]ᵀ + beta * C, all row-major float32.
    /// This is the shape of a linear layer: activations [m, k] times a weight stored [out = n, in = k].
    /// Most of the forward pass's time is spent here.
    public static func matmulTransposedB(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans,
            blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(k), b, blasint(k), beta, c, blasint(n))
    }

    /// C[m, n] = alpha * A[m, k] · B[k, n] + beta * C, all row-major float32.
    public static func matmul(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans,
            blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(k), b, blasint(n), beta, c, blasint(n))
    }

    /// The number of threads OpenBLAS uses.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// The kernel family OpenBLAS uses (e.g. "Cooperlake").
    public static var coreName: String { String(cString: persona_openblas_core_name()) }
    /// The OPENBLAS_CORETYPE that fits this processor better than OpenBLAS's own choice: set only
    /// when OpenBLAS fell back to its generic kernels on a processor it does not know (COpenBLASCore).
    public static var betterCore: String? { persona_openblas_better_core().map { String(cString: $0) } }
    /// Whether `persona`'s entry point chose the kernel family (it marks the choice it made).
    public static var coreChosenAtStartup: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OPENBLAS_CORETYPE"] != nil && env["PERSONA_OPENBLAS_CORE_SET"] == env["OPENBLAS_CORETYPE"]
    }
}

extension BLAS {
    /// General strided sgemm: C[m, n] = alpha · A[m, k] · op(B) + beta · C, row-major, with explicit
    /// leading dimensions; op(B) = B[k, n] or, with `transposeB`, B[n, k]ᵀ.
    public static func gemm(
        transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}
