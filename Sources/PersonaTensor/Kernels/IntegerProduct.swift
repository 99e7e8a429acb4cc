// The fast arithmetic (DESIGN.md, "Arithmetic: exact and fast"): activation rows quantized per 32
// values to int8 with a scale, integer dot products against the quantized weight blocks, in the C
// target CPersonaIntegerKernels (its header states the arithmetic). The plain C functions are the
// reference; the AVX2 ones are bit-identical to them (IntegerKernelTests), so a result never
// depends on the kernel level, only on the path (exact or fast).
import Dispatch
import Synchronization
import CPersonaIntegerKernels
#if canImport(Glibc)
    import Glibc
#endif

/// Which arithmetic computes the model's linear layers.
public enum Arithmetic: String, Codable, Sendable, CaseIterable {
    /// float32 activations times exactly dequantized weights: what the golden tests hold.
    case exact
    /// int8 activations (per 32 values) times the quantized weights in integers.
    case fast

    /// The library's default, read from the environment each time a model is made (so a command
    /// may choose before it loads its models): `PERSONA_ARITHMETIC=exact` (or `PERSONA_EXACT=1`)
    /// selects exact, `PERSONA_ARITHMETIC=fast` or nothing the integer path. The fast path is the
    /// default since its fidelity tests hold on every default model (FastPathFidelityTests).
    public static var `default`: Arithmetic {
        if let flag = getenv("PERSONA_EXACT"), String(cString: flag) == "1" { return .exact }
        if let raw = getenv("PERSONA_ARITHMETIC") {
            let text = String(cString: raw)
            if let named = Arithmetic(rawValue: text) { return named }
            warnOnce("warning: PERSONA_ARITHMETIC=\(text) is not \"exact\" or \"fast\"; using fast\n")
        }
        return .fast
    }

    /// Makes `arithmetic` the library's default for this process (`default`): every model made
    /// afterwards, a plugin's judge model included, computes with it.
    public static func select(_ arithmetic: Arithmetic) {
        setenv("PERSONA_ARITHMETIC", arithmetic.rawValue, 1)
        unsetenv("PERSONA_EXACT")
    }

    /// Whether the warning about an unknown PERSONA_ARITHMETIC was printed (once per process).
    private static let warned = Atomic<Bool>(false)
    private static func warnOnce(_ text: String) {
        if !warned.exchange(true, ordering: .relaxed) { fputs(text, stderr) }
    }
}

/// Activation rows quantized for the integer kernels: per row of `columns` values (a multiple of
/// 32), `columns` int8 values and per 32-value block a float scale and the int32 sum of its values.
public final class QuantizedActivations {
    public let count: Int
    public let columns: Int
    let values: UnsafeMutablePointer<Int8>  // [count, columns]
    let scales: UnsafeMutablePointer<Float>  // [count, columns / 32]
    let sums: UnsafeMutablePointer<Int32>  // [count, columns / 32]

    /// Quantizes `count` rows of `columns` floats from `x`. `columns` must be a multiple of 32
    /// (checked by the caller: `QuantizedMatrix.supportsInteger`).
    /// `level` chooses the quantizer's code (plain C, or AVX2 from level 1 on); every level gives
    /// the same bytes (persona_quantize_q8_level).
    public init(_ x: UnsafePointer<Float>, count: Int, columns: Int, level: IntegerKernelLevel = .best) {
        self.count = count; self.columns = columns
        let blocks = columns / 32
        values = .allocate(capacity: max(1, count * columns))
        scales = .allocate(capacity: max(1, count * blocks))
        sums = .allocate(capacity: max(1, count * blocks))
        for r in 0..<count {
            persona_quantize_q8_level(
                x + r * columns, Int32(columns), values + r * columns, scales + r * blocks, sums + r * blocks, level.rawValue)
        }
    }

    deinit { values.deallocate(); scales.deallocate(); sums.deallocate() }

    /// Row `r` dequantized (d · q), for tests and bounds.
    public func dequantizedRow(_ r: Int) -> [Float] {
        (0..<columns).map { scales[r * (columns / 32) + $0 / 32] * Float(values[r * columns + $0]) }
    }
}

/// Integer kernel levels: the plain C reference; AVX2 (maddubs/madd) when the processor has AVX2,
/// FMA and F16C; AVX-512 VNNI (vpdpbusd on 256-bit vectors, with AVX-512 VL) or AVX-VNNI (its VEX
/// form, on Intel processors without AVX-512). Every level forms the same integer lane sums and
/// performs the same float operations (persona_integer.h), so all are bit-identical to plain and
/// the choice changes only the speed. Chosen at run time from the processor's flags, never at
/// build time: one binary runs everywhere with the best level the machine has.
public enum IntegerKernelLevel: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case plain = 0
    case avx2 = 1
    case avx512vnni = 2
    case avxvnni = 3

    public var description: String {
        switch self {
        case .plain: return "plain"
        case .avx2: return "avx2"
        case .avx512vnni: return "avx512vnni"
        case .avxvnni: return "avxvnni"
        }
    }

    /// The levels this processor runs (plain first), capped as the fused kernels are
    /// (`PERSONA_KERNELS=plain|avx2|avx512`: VNNI needs the cap to allow AVX-512 or, for AVX-VNNI, AVX2).
    public static let supported: [IntegerKernelLevel] = {
        let fused = FusedSupport.level
        guard fused >= .avx2 else { return [.plain] }
        var levels: [IntegerKernelLevel] = [.plain, .avx2]
        #if arch(x86_64)
            let flags = FusedSupport.x86FlagSet
            if fused >= .avx512, flags.isSuperset(of: ["avx512_vnni", "avx512vl", "avx512bw"]) { levels.append(.avx512vnni) }
            if flags.contains("avx_vnni") { levels.append(.avxvnni) }
        #endif
        return levels
    }()

    /// The fastest level this processor runs: AVX-512 VNNI, then AVX-VNNI, then AVX2, then plain.
    public static let best: IntegerKernelLevel = {
        for level in [IntegerKernelLevel.avx512vnni, .avxvnni, .avx2] where supported.contains(level) { return level }
        return .plain
    }()
}

extension QuantizedMatrix {
    /// Whether the integer path can multiply this matrix (its type has integer kernels and its rows
    /// are whole 32-value blocks of the activations).
    public var supportsInteger: Bool { persona_integer_supported(Int32(type.rawValue)) != 0 && columns % 32 == 0 }

    /// y[r, o] = Σ_blocks integer products of weight row o and quantized activation row r
    /// (x: [count, columns], y: [count, rows]). Each output's arithmetic is fixed (the header of
    /// persona_integer.h), whatever the row count, thread split or kernel level.
    public func multiplyInteger(
        _ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>,
        level: IntegerKernelLevel = .best, threads: Int = QuantizedMatrix.threadCount
    ) {
        guard count > 0 else { return }
        let activations = QuantizedActivations(x, count: count, columns: columns, level: level)
        multiplyInteger(activations, into: y, level: level, threads: threads)
    }

    /// The same with activations quantized once (shared by the matrices reading one input).
    public func multiplyInteger(
        _ a: QuantizedActivations, into y: UnsafeMutablePointer<Float>,
        level: IntegerKernelLevel = .best, threads: Int = QuantizedMatrix.threadCount
    ) {
        guard a.count > 0, a.columns == columns else { return }
        let work = rows * columns * min(a.count, 4)
        let chunkCount = work >= 400_000 && threads > 1 ? max(1, min(4 * threads, rows / 64)) : 1
        let perChunk = (rows + chunkCount - 1) / chunkCount
        let run = { (chunk: Int) in
            let start = chunk * perChunk, end = min(self.rows, start + perChunk)
            guard start < end else { return }
            persona_integer_rows(
                Int32(self.type.rawValue), level.rawValue, self.data, Int64(self.rowBytes), Int32(self.columns),
                a.values, a.scales, a.sums, Int32(a.count), Int32(start), Int32(end), y, Int64(self.rows))
        }
        if chunkCount == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: chunkCount, execute: run) }
    }
}
