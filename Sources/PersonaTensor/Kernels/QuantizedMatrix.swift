// A weight matrix kept in its file's (quantized) format, multiplied by float32 activations.
// Used for decode steps, where reading 4-bit weights instead of float32 ones is what makes
// single-sequence generation fast (the step is memory-bound).
//
// Determinism: every output y[r, o] is computed the same way whatever the number of rows: weight
// row o is decoded exactly (bit-equal to the reference decoder, as Hugging Face dequantizes) and
// dotted with activation row r in a fixed order. A sequence's result never depends on which other
// sequences share the pass.
//
// Two paths: the fused kernels (decode in registers or into a cache-resident tile, fused
// multiply-add; chosen when the processor supports them) and the plain one (decode a row to
// memory with RowDecoders, then dot products), which stays as the reference and the fallback.
// Both keep the per-output arithmetic independent of the row count. The fused kernels exist twice,
// compiled from the same source for two instruction levels (PersonaKernels: AVX2;
// PersonaKernelsAVX512: AVX-512); both perform the same IEEE operations lane by lane, so their
// results are bit-identical and only the speed depends on the level (FusedKernelTests).
import Dispatch
import PersonaKernels
import PersonaKernelsAVX512

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
    /// The fused kernel's format, when there is one and the processor can run it.
    let fused: PersonaKernels.FusedFormat?
    /// The same format in the AVX-512 build, when `kernelLevel` is `.avx512`.
    let fusedWide: PersonaKernelsAVX512.FusedFormat?
    /// The kernels `multiply` runs: `.plain` when `fused` is nil.
    public let kernelLevel: KernelLevel

    /// Wraps `bytes` ([rows, columns] of `type`); `owner` keeps them alive. `kernels` chooses the
    /// kernel level (default: the best this processor runs); a level the processor cannot run is
    /// lowered to the best one it can (`kernelLevel` says which was taken).
    public init(
        type: GGMLType, rows: Int, columns: Int, bytes: UnsafeRawBufferPointer, owner: AnyObject,
        kernels: KernelLevel = FusedSupport.level
    ) throws {
        guard let decode = RowDecoders.decoder(for: type) else { throw TensorError.unsupportedType(type) }
        guard let rowBytes = type.byteCount(elements: columns) else { throw TensorError.notBlockAligned(type: type, elements: columns) }
        let (needed, overflow) = rowBytes.multipliedReportingOverflow(by: rows)
        guard !overflow, bytes.count >= needed, let base = bytes.baseAddress else {
            throw TensorError.bufferTooSmall(type: type, needed: overflow ? Int.max : needed, available: bytes.count)
        }
        self.type = type; self.rows = rows; self.columns = columns; self.rowBytes = rowBytes
        self.data = base; self.owner = owner; self.decode = decode
        let level = FusedSupport.runnable(kernels)
        if level != .plain, let format = PersonaKernels.FusedFormat(rawValue: type.rawValue), columns % format.blockSize == 0 {
            let wide = level == .avx512 ? PersonaKernelsAVX512.FusedFormat(rawValue: type.rawValue) : nil
            self.fused = format; self.fusedWide = wide
            self.kernelLevel = wide == nil && level == .avx512 ? .avx2 : level
        } else {
            self.fused = nil; self.fusedWide = nil; self.kernelLevel = .plain
        }
    }

    /// Whether `multiply` uses the fused kernels (false: the plain decode-and-dot path).
    public var usesFusedKernels: Bool { fused != nil }

    /// Decodes weight row `row` into `output` (`columns` floats).
    public func decodeRow(_ row: Int, into output: UnsafeMutablePointer<Float>) {
        decode(data + row * rowBytes, output, columns)
    }

    /// y[r, o] = Σ_i x[r, i] · W[o, i] for r in 0..<count (x: [count, columns], y: [count, rows]).
    /// Output rows are split across threads; each is computed identically.
    public func multiply(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>, threads: Int = QuantizedMatrix.threadCount) {
        guard let format = fused else { return multiplyPlain(x, count: count, into: y, threads: threads) }
        guard count > 0 else { return }
        // Split only when there is enough work to pay for waking another thread; then into a few
        // chunks per thread, so that a thread slowed down by other processes does not hold up
        // the call (the split never changes a result).
        let work = rows * columns * min(count, PersonaKernels.FusedKernels.tileThreshold)
        let chunkCount = work >= 400_000 && threads > 1 ? max(1, min(4 * threads, rows / 64)) : 1
        let perChunk = ((rows + chunkCount - 1) / chunkCount + 1) & ~1
        let tileFloats = count >= PersonaKernels.FusedKernels.tileThreshold ? PersonaKernels.FusedKernels.tileFloats(columns: columns) : 0
        let run = { (chunk: Int) in
            let start = chunk * perChunk, end = min(self.rows, start + perChunk)
            guard start < end else { return }
            // Cache-line aligned: every 16-float load of a tile row is then one line, not two
            // (the rows are multiples of 32 floats).
            let tileBytes = UnsafeMutableRawPointer.allocate(byteCount: max(tileFloats, 1) * 4, alignment: 64)
            defer { tileBytes.deallocate() }
            let tile = tileBytes.bindMemory(to: Float.self, capacity: max(tileFloats, 1))
            if let wide = self.fusedWide {
                PersonaKernelsAVX512.FusedKernels.multiply(
                    format: wide, data: self.data, rowBytes: self.rowBytes, columns: self.columns,
                    x: x, count: count, outputs: start..<end, y: y, ldy: self.rows, tile: tile)
            } else {
                PersonaKernels.FusedKernels.multiply(
                    format: format, data: self.data, rowBytes: self.rowBytes, columns: self.columns,
                    x: x, count: count, outputs: start..<end, y: y, ldy: self.rows, tile: tile)
            }
        }
        if chunkCount == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: chunkCount, execute: run) }
    }

    /// The plain path: decode each weight row to memory (RowDecoders), then dot products. The
    /// reference for the fused kernels, and the path on processors they cannot run on.
    public func multiplyPlain(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>, threads: Int = QuantizedMatrix.threadCount) {
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

/// The kernels a quantized product can run, slowest first.
public enum KernelLevel: String, Sendable, CaseIterable, Comparable {
    /// Decode a row to memory, then dot products (any processor; the reference).
    case plain
    /// PersonaKernels compiled without a CPU target (arm64: NEON is the baseline).
    case neon
    /// PersonaKernels (x86_64: AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE).
    case avx2
    /// PersonaKernelsAVX512 (x86_64: the AVX2 set plus AVX-512 F, CD, BW, DQ, VL).
    case avx512

    var rank: Int {
        switch self {
        case .plain: return 0
        case .neon: return 1
        case .avx2: return 2
        case .avx512: return 3
        }
    }

    public static func < (a: KernelLevel, b: KernelLevel) -> Bool { a.rank < b.rank }
}

/// Which kernel levels this processor can run, checked before any fused code runs: the
/// instruction sets come from /proc/cpuinfo's flags, so a build runs on every x86_64 machine and
/// takes the widest kernels the machine has. `PERSONA_KERNELS=plain|avx2|avx512` caps the level
/// (a level the processor lacks is never taken); `PERSONA_PLAIN_KERNELS=1` is `PERSONA_KERNELS=plain`.
public enum FusedSupport {
    /// The levels this processor can run, slowest first (always contains `.plain`).
    public static let supported: [KernelLevel] = {
        #if arch(x86_64)
            let flags = x86FlagSet
            let avx2: Set<Substring> = ["avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "abm", "movbe"]
            guard flags.isSuperset(of: avx2) else { return [.plain] }
            guard flags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]) else { return [.plain, .avx2] }
            return [.plain, .avx2, .avx512]
        #elseif arch(arm64)
            return [.plain, .neon]
        #else
            return [.plain]
        #endif
    }()

    /// The level products use by default: the best supported one, capped by `PERSONA_KERNELS`.
    public static let level: KernelLevel = {
        var cap = KernelLevel.avx512
        if let flag = getenv("PERSONA_PLAIN_KERNELS"), String(cString: flag) == "1" { cap = .plain }
        if let raw = getenv("PERSONA_KERNELS") {
            let text = String(cString: raw)
            if let named = KernelLevel(rawValue: text) {
                cap = min(cap, named)
            } else {
                let names = KernelLevel.allCases.map(\.rawValue).joined(separator: ", ")
                fputs("warning: PERSONA_KERNELS=\(text) is not one of \(names); using the best kernels this processor runs\n", stderr)
            }
        }
        return runnable(cap)
    }()

    /// Whether the fused kernels run by default.
    public static var isAvailable: Bool { level != .plain }

    /// `wanted` if this processor runs it, else the best level below it that it runs.
    public static func runnable(_ wanted: KernelLevel) -> KernelLevel {
        supported.last(where: { $0 <= wanted }) ?? .plain
    }

    /// The "flags" line of /proc/cpuinfo, read once for every kernel family's choice.
    static let x86FlagSet: Set<Substring> = x86Flags()

    /// The "flags" line of /proc/cpuinfo (empty when it cannot be read: no fused kernels).
    private static func x86Flags() -> Set<Substring> {
        guard let file = fopen("/proc/cpuinfo", "r") else { return [] }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line)
            if text.hasPrefix("flags") {
                guard let colon = text.firstIndex(of: ":") else { return [] }
                return Set(text[text.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }))
            }
        }
        return []
    }
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
