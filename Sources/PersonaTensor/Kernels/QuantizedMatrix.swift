// A weight matrix kept in its file's (quantized) format, multiplied by float32 activations.
// Used for decode steps, where reading 4-bit weights instead of float32 ones is what makes
// single-sequence generation fast (the step is memory-bound).
//
// Determinism: every output y[r, o] is computed the same way whatever the number of rows: weight
// row o is decoded exactly (bit-equal to the reference decoder, as Hugging Face dequantizes) and
// dotted with activation row r in a fixed order. A sequence's result never depends on which other
// sequences share the pass.
import Dispatch

/// A [rows, columns] weight matrix in a ggml block format (row-major, `columns` along a row).
public final class QuantizedMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let columns: Int
    public let rowBytes: Int
    let data: UnsafeRawPointer
    /// Keeps the memory `data` points into alive (a mapped file).
    let owner: AnyObject
    let decode: RowDecoders.Decode

    /// Wraps `bytes` ([rows, columns] of `type`); `owner` keeps them alive.
    public init(type: GGMLType, rows: Int, columns: Int, bytes: UnsafeRawBufferPointer, owner: AnyObject) throws {
        guard let decode = RowDecoders.decoder(for: type) else { throw TensorError.unsupportedType(type) }
        guard let rowBytes = type.byteCount(elements: columns) else { throw TensorError.notBlockAligned(type: type, elements: columns) }
        let (needed, overflow) = rowBytes.multipliedReportingOverflow(by: rows)
        guard !overflow, bytes.count >= needed, let base = bytes.baseAddress else {
            throw TensorError.bufferTooSmall(type: type, needed: overflow ? Int.max : needed, available: bytes.count)
        }
        self.type = type; self.rows = rows; self.columns = columns; self.rowBytes = rowBytes
        self.data = base; self.owner = owner; self.decode = decode
    }

    /// Decodes weight row `row` into `output` (`columns` floats).
    public func decodeRow(_ row: Int, into output: UnsafeMutablePointer<Float>) {
        decode(data + row * rowBytes, output, columns)
    }

    /// y[r, o] = Σ_i x[r, i] · W[o, i] for r in 0..<count (x: [count, columns], y: [count, rows]).
    /// Output rows are split across threads; each is computed identically.
    public func multiply(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>, threads: Int = QuantizedMatrix.threadCount) {
        let chunkCount = max(1, min(threads, rows / 64))
        let perChunk = (rows + chunkCount - 1) / chunkCount
        let work = { (chunk: Int) in
            let start = chunk * perChunk, end = min(self.rows, start + perChunk)
            guard start < end else { return }
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: self.columns)
            defer { scratch.deallocate() }
            for o in start..<end {
                self.decode(self.data + o * self.rowBytes, scratch, self.columns)
                var r = 0
                let c = self.columns, n = self.rows
                while r + 4 <= count {
                    let (s0, s1, s2, s3) = Vector.dot4(x + r * c, x + (r + 1) * c, x + (r + 2) * c, x + (r + 3) * c, scratch, count: c)
                    y[r * n + o] = s0; y[(r + 1) * n + o] = s1; y[(r + 2) * n + o] = s2; y[(r + 3) * n + o] = s3
                    r += 4
                }
                while r < count {
                    y[r * n + o] = Vector.dot(x + r * c, scratch, count: c)
                    r += 1
                }
            }
        }
        if chunkCount == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: chunkCount, execute: work) }
    }

    /// Worker threads for kernels: the machine's active processors.
    public static let threadCount = max(1, ProcessInfo_activeProcessorCount())
}

@inline(__always) func ProcessInfo_activeProcessorCount() -> Int {
    #if canImport(Glibc)
    return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    #else
    return 1
    #endif
}

#if canImport(Glibc)
import Glibc
#endif
