// The linear layers of the forward pass: which rows go through which kernel (RowPlan), and the
// one function that multiplies a pass's rows by a weight on the chosen arithmetic.
import Foundation
import PersonaTensor

/// Which rows of a pass are decode steps (one token of their sequence) and which belong to
/// multi-token prefills. Decode rows go through the per-row quantized kernel; each prefill span
/// gets an sgemm call of its own. Both depend only on the row's own sequence, so a sequence's
/// results never depend on the batch (OpenBLAS may sum differently for different call shapes).
struct RowPlan {
    let count: Int
    let decodeRows: [Int]
    /// (first row, row count) of every multi-token span.
    let prefillSpans: [(start: Int, count: Int)]

    init(spans: [SequenceSpan]) {
        count = spans.reduce(0) { $0 + $1.rowCount }
        decodeRows = spans.filter { $0.rowCount == 1 }.map(\.rowStart)
        prefillSpans = spans.filter { $0.rowCount > 1 }.map { ($0.rowStart, $0.rowCount) }
    }

    /// Every row through the per-row kernel.
    init(allRowKernel count: Int) {
        self.count = count
        decodeRows = Array(0..<count)
        prefillSpans = []
    }
}

/// output[rows, out] = input[rows, in] · Wᵀ: decode rows through the quantized kernel, each prefill
/// span through one call of it too (or, for weights without fused kernels, its own sgemm call).
func linear(_ arithmetic: Arithmetic, _ w: LinearWeight, _ input: FloatBuffer, _ output: FloatBuffer, _ plan: RowPlan) {
    let n = w.outputs, k = w.inputs
    if arithmetic == .fast, let matrix = w.quantized, matrix.supportsInteger {
        // Every row alike (decode steps and prefill spans): each row is quantized on its own and
        // each output's integer arithmetic is fixed, so a row's result never depends on the batch.
        matrix.multiplyInteger(input.pointer, count: plan.count, into: output.pointer)
        return
    }
    if !plan.decodeRows.isEmpty {
        if plan.decodeRows.count == plan.count {
            if let matrix = w.quantized {
                matrix.multiply(input.pointer, count: plan.count, into: output.pointer)
            } else {
                denseRows(w, input.pointer, plan.count, output.pointer)
            }
        } else {
            let gathered = FloatBuffer(count: plan.decodeRows.count * k)
            for (i, r) in plan.decodeRows.enumerated() { gathered.row(i, width: k).update(from: input.row(r, width: k), count: k) }
            let result = FloatBuffer(count: plan.decodeRows.count * n)
            if let matrix = w.quantized {
                matrix.multiply(gathered.pointer, count: plan.decodeRows.count, into: result.pointer)
            } else {
                denseRows(w, gathered.pointer, plan.decodeRows.count, result.pointer)
            }
            for (i, r) in plan.decodeRows.enumerated() { output.row(r, width: n).update(from: result.row(i, width: n), count: n) }
        }
    }
    for span in plan.prefillSpans {
        if let matrix = w.quantized, matrix.kernelLevel == .avx512, !prefillThroughSgemm {
            // The AVX-512 build of the fused kernels decodes each tile of weight rows once for all
            // the span's rows and runs its 6 × 2 block in zmm registers: faster than sgemm on the
            // float32 copy (+25 % on a 256-token prefill, AMD Zen 5), while the AVX2 build is
            // slower than OpenBLAS there (−30 %), so it keeps sgemm (BENCHMARKS.md, 2026-12-03).
            // Each row's arithmetic is then a decode step's, bit for bit.
            matrix.multiply(input.row(span.start, width: k), count: span.count, into: output.row(span.start, width: n))
            continue
        }
        BLAS.matmulTransposedB(input.row(span.start, width: k), w.dense.pointer, output.row(span.start, width: n), m: span.count, n: n, k: k)
    }
}

/// PERSONA_PREFILL=sgemm sends prefill spans of quantized weights through sgemm on their float32
/// copies even where the AVX-512 kernels run ("fused", the default, uses them there); kept to
/// compare the two paths.
let prefillThroughSgemm: Bool = {
    switch ProcessInfo.processInfo.environment["PERSONA_PREFILL"] {
    case nil, "", "fused": return false
    case "sgemm": return true
    case let other?:
        fputs("warning: PERSONA_PREFILL=\(other) is not \"fused\" or \"sgemm\"; using the fused kernels\n", stderr)
        return false
    }
}()

/// Decode rows without a quantized copy (Hugging Face folders): the same per-row dot products over
/// the float32 weights.
private func denseRows(_ w: LinearWeight, _ x: UnsafePointer<Float>, _ count: Int, _ y: UnsafeMutablePointer<Float>) {
    for o in 0..<w.outputs {
        let row = w.dense.row(o, width: w.inputs)
        for r in 0..<count { y[r * w.outputs + o] = Vector.dot(x + r * w.inputs, row, count: w.inputs) }
    }
}
