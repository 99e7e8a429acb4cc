// Weight formats as the fused kernels see them: every format hands out a row's elements 32 at a
// time (`group(row, g)` = elements 32g ..< 32g+32) as two SIMD16<Float> vectors holding exactly the
// values of the plain reference dequantizer (PersonaTensor/Quant: same operations, same order, no
// fused multiply-add; KernelTests compares them bit for bit). The block layouts follow ggml's
// (ggml-common.h): Q8_0, Q4_0, Q4_1, Q5_0 are 32-element blocks, Q4_K and Q6_K 256-element ones.
//
// These files are compiled twice on x86_64, as PersonaKernels (haswell: AVX2 and FMA) and as
// PersonaKernelsAVX512 (skylake-avx512: AVX-512 F, CD, BW, DQ, VL; Sources/PersonaKernelsAVX512 holds
// links to the files here). PersonaTensor calls a build only after checking at run time that the
// processor has its instructions. SIMD arithmetic is lane-wise IEEE, never reassociated, so both
// builds compute bit-identical results; only the instructions (ymm pairs or zmm) differ.

/// A weight block format, 32 elements at a time.
protocol GroupFormat {
    /// Bytes of one row of `columns` elements.
    static func rowBytes(columns: Int) -> Int
    /// Elements 32g ..< 32g+32 of the row at `row`.
    static func group(_ row: UnsafeRawPointer, _ g: Int) -> (SIMD16<Float>, SIMD16<Float>)
}

/// binary16 bits → Float, exact. Where Swift has Float16 this is one conversion instruction
/// (F16C, which the CPU check requires); elsewhere bit manipulation.
@inline(__always) func halfToFloat(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    let h = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    #if !(os(macOS) && arch(x86_64))
        return Float(Float16(bitPattern: h))
    #else
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        var mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        if exponent == 0 {
            if mantissa == 0 { return Float(bitPattern: sign) }
            var e: UInt32 = 127 - 15 + 1
            while mantissa & 0x400 == 0 { mantissa <<= 1; e -= 1 }
            mantissa &= 0x3FF
            return Float(bitPattern: sign | (e << 23) | (mantissa << 13))
        }
        return Float(bitPattern: sign | ((exponent + 127 - 15) << 23) | (mantissa << 13))
    #endif
}

// Lane-by-lane conversions written out (the generic SIMD initializers are not inlined).
@inline(__always) func floats(_ v: SIMD16<UInt8>) -> SIMD16<Float> {
    var out = SIMD16<Float>()
    for i in 0..<16 { out[i] = Float(v[i]) }
    return out
}

@inline(__always) func floats(_ v: SIMD16<Int8>) -> SIMD16<Float> {
    var out = SIMD16<Float>()
    for i in 0..<16 { out[i] = Float(v[i]) }
    return out
}

@inline(__always) func bytes(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD16<UInt8> {
    p.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
}

@inline(__always) func signed(_ v: SIMD16<UInt8>) -> SIMD16<Int8> { unsafeBitCast(v, to: SIMD16<Int8>.self) }

enum F32Format: GroupFormat {
    static func rowBytes(columns: Int) -> Int { 4 * columns }
    @inline(__always) static func group(_ row: UnsafeRawPointer, _ g: Int) -> (SIMD16<Float>, SIMD16<Float>) {
        (
            row.loadUnaligned(fromByteOffset: 128 &* g, as: SIMD16<Float>.self),
            row.loadUnaligned(fromByteOffset: 128 &* g &+ 64, as: SIMD16<Float>.self)
        )
    }
}

/// Q8_0: d (half), 32 × int8; w = q · d.
enum Q8_0Format: GroupFormat {
    static func rowBytes(columns: Int) -> Int { columns / 32 * 34 }
    @inline(__always) static func group(_ row: UnsafeRawPointer, _ g: Int) -> (SIMD16<Float>, SIMD16<Float>) {
        let p = row + 34 &* g
        let d = SIMD16<Float>(repeating: halfToFloat(p, 0))
        return (floats(signed(bytes(p, 2))) * d, floats(signed(bytes(p, 18))) * d)
    }
}

/// Q4_0: d (half), 16 bytes of nibbles (low nibbles are elements 0…15); w = (q − 8) · d.
enum Q4_0Format: GroupFormat {
    static func rowBytes(columns: Int) -> Int { columns / 32 * 18 }
    @inline(__always) static func group(_ row: UnsafeRawPointer, _ g: Int) -> (SIMD16<Float>, SIMD16<Float>) {
        let p = row + 18 &* g
        let d = SIMD16<Float>(repeating: halfToFloat(p, 0))
        let q = bytes(p, 2), eight = SIMD16<Int8>(repeating: 8)
        return (floats(signed(q & 0x0F) &- eight) * d, floats(signed(q &>> 4) &- eight) * d)
    }
}

/// Q4_1: d, m (halves), 16 bytes of nibbles; w = q · d + m.
enum Q4_1Format: GroupFormat {
    static func rowBytes(columns: Int) -> Int { columns / 32 * 20 }
    @inline(__always) static func group(_ row: UnsafeRawPointer, _ g: Int) -> (SIMD16<Float>, SIMD16<Float>) {
        let p = row + 20 &* g
        let d = SIMD16<Float>(repeating: halfToFloat(p, 0)), m = SIMD16<Float>(repeating: halfToFloat(p, 2))
        let q = bytes(p, 4)
        return (floats(q & 0x0F) * d + m, floats(q &>> 4) * d + m)
    }
}

/// Q5_0: d (half), 32 high bits (bit j for element j), 16 bytes of nibbles; w = (q − 16) · d.
enum Q5_0Format: GroupFormat {
    static func rowBytes(columns: Int) -> Int { columns / 32 * 22 }
    @inline(__always) static func group(_ row: UnsafeRawPointer, _ g: Int) -> (SIMD16<Float>, SIMD16<Float>) {
        let p = row + 22 &* g
        let d = SIMD16<Float>(repeating: halfToFloat(p, 0))
        // The fifth bits in 32-bit lanes, where a per-lane shift is one instruction (AVX2); byte
        // lanes compile to long emulation sequences. Literals, not statics (a static costs a lazy-
        // initialization check per call).
        let qh = SIMD16<UInt32>(repeating: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self)))
        let shiftsLow = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let shiftsHigh = shiftsLow &+ 16
        let q = bytes(p, 6)
        let lo = words(q & 0x0F) | (((qh &>> shiftsLow) & 1) &<< 4)
        let hi = words(q &>> 4) | (((qh &>> shiftsHigh) & 1) &<< 4)
        return (floatsMinus16(lo) * d, floatsMinus16(hi) * d)
    }

    @inline(__always) static func words(_ v: SIMD16<UInt8>) -> SIMD16<UInt32> {
        var out = SIMD16<UInt32>()
        for i in 0..<16 { out[i] = UInt32(v[i]) }
        return out
    }

    /// Float(q − 16) per lane (q < 32: exact).
    @inline(__always) static func floatsMinus16(_ v: SIMD16<UInt32>) -> SIMD16<Float> {
        var out = SIMD16<Float>()
        for i in 0..<16 { out[i] = Float(Int32(bitPattern: v[i]) &- 16) }
        return out
    }
}

/// Q4_K: 256-element super-blocks (144 bytes): d, dmin (halves), 12 bytes of 6-bit scales and
/// mins, 128 bytes of nibbles; 32-element group j has w = (d · scale_j) · q − dmin · min_j.
enum Q4_KFormat: GroupFormat {
    static func rowBytes(columns: Int) -> Int { columns / 256 * 144 }
    @inline(__always) static func scaleMin(_ j: Int, _ s: UnsafeRawPointer) -> (UInt8, UInt8) {
        @inline(__always) func b(_ i: Int) -> UInt8 { s.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (b(j) & 63, b(j + 4) & 63) }
        return ((b(j + 4) & 0x0F) | ((b(j - 4) >> 6) << 4), (b(j + 4) >> 4) | ((b(j) >> 6) << 4))
    }

    @inline(__always) static func group(_ row: UnsafeRawPointer, _ g: Int) -> (SIMD16<Float>, SIMD16<Float>) {
        let p = row + 144 &* (g >> 3), j = g & 7
        let (s, m) = scaleMin(j, p + 4)
        let scale = SIMD16<Float>(repeating: halfToFloat(p, 0) * Float(s))
        let minimum = SIMD16<Float>(repeating: halfToFloat(p, 2) * Float(m))
        let q = p + 16 + 32 * (j >> 1)
        let a = bytes(q, 0), b = bytes(q, 16)
        if j & 1 == 0 { return (scale * floats(a & 0x0F) - minimum, scale * floats(b & 0x0F) - minimum) }
        return (scale * floats(a &>> 4) - minimum, scale * floats(b &>> 4) - minimum)
    }
}

/// Q6_K: 256-element super-blocks (210 bytes): 128 bytes of low nibbles, 64 bytes of 2-bit highs,
/// 16 int8 scales, d (half); w = (d · scale) · (q − 32) with one scale per 16 elements.
enum Q6_KFormat: GroupFormat {
    static func rowBytes(columns: Int) -> Int { columns / 256 * 210 }
    @inline(__always) static func group(_ row: UnsafeRawPointer, _ g: Int) -> (SIMD16<Float>, SIMD16<Float>) {
        let p = row + 210 &* (g >> 3), j = g & 7
        // Group j: 128-element chunk j/4, part j%4 (elements 32·part ..< 32·part+32 of the chunk).
        let chunk = j >> 2, part = j & 3
        let ql = p + 64 * chunk + 32 * (part & 1), qh = p + 128 + 32 * chunk, sc = p + 192 + 8 * chunk
        let d = halfToFloat(p, 208)
        let thirtyTwo = SIMD16<Int8>(repeating: 32)
        // Constant shifts per part (a shift by a variable amount compiles to per-lane code).
        @inline(__always) func half(_ l: Int) -> SIMD16<Float> {
            let a = bytes(ql, l), h = bytes(qh, l)
            let q: SIMD16<UInt8>
            switch part {
            case 0: q = (a & 0x0F) | ((h & 0x03) &<< 4)
            case 1: q = (a & 0x0F) | ((h & 0x0C) &<< 2)
            case 2: q = (a &>> 4) | (h & 0x30)
            default: q = (a &>> 4) | ((h & 0xC0) &>> 2)
            }
            let scale = SIMD16<Float>(repeating: d * Float(sc.load(fromByteOffset: 2 * part + l / 16, as: Int8.self)))
            return scale * floats(signed(q) &- thirtyTwo)
        }
        return (half(0), half(16))
    }
}
