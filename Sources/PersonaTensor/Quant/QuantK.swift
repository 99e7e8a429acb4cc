// The 256-element "K" super-block formats of ggml (ggml-common.h: block_q2_K … block_q6_K), one
// plain reference decoder each, following ggml-quants.c's dequantize_row_*_K in arithmetic order
// (bit-equal to gguf-py's numpy decoders).
//
// Layouts (d, dmin binary16):
//   Q2_K (84 B):  scales[16] (lo nibble scale, hi nibble min), qs[64] (2-bit), d, dmin
//   Q3_K (110 B): hmask[32] (high bit), qs[64] (low 2 bits), scales[12] (16 packed 6-bit), d
//   Q4_K (144 B): d, dmin, scales[12] (8 packed 6-bit scale/min pairs), qs[128] (4-bit)
//   Q5_K (176 B): d, dmin, scales[12], qh[32] (5th bit), qs[128]
//   Q6_K (210 B): ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d

enum QuantK {
    static let q2Size = 16 + 64 + 2 + 2
    static let q3Size = 32 + 64 + 12 + 2
    static let q4Size = 2 + 2 + 12 + 128
    static let q5Size = 2 + 2 + 12 + 32 + 128
    static let q6Size = 128 + 64 + 16 + 2

    @inline(__always) static func byte(_ p: UnsafeRawPointer, _ i: Int) -> UInt8 { p.load(fromByteOffset: i, as: UInt8.self) }

    static func q2(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let scales = b, d = loadHalf(b, 80), dmin = loadHalf(b, 82)
        var q = b + 16
        var out = y
        var scaleIndex = 0
        for _ in 0..<2 {
            var shift: UInt8 = 0
            for _ in 0..<4 {
                for half in 0..<2 {
                    let sc = byte(scales, scaleIndex); scaleIndex += 1
                    let dl = d * Float(sc & 0x0F), ml = dmin * Float(sc >> 4)
                    for l in 0..<16 { out[l] = dl * Float((byte(q, l + 16 * half) >> shift) & 3) - ml }
                    out += 16
                }
                shift += 2
            }
            q += 32
        }
    }

    /// The 16 signed 6-bit scales of Q3_K, unpacked from 12 bytes.
    static func q3Scales(_ p: UnsafeRawPointer) -> [Int8] {
        let kmask1: UInt32 = 0x0303_0303, kmask2: UInt32 = 0x0f0f_0f0f
        var aux = (0..<3).map { UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        let tmp = aux[2]
        aux.append(0)
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4)
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4)
        aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4)
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4)
        var out: [Int8] = []
        for word in aux { for k in 0..<4 { out.append(Int8(bitPattern: UInt8(truncatingIfNeeded: word >> UInt32(8 * k)))) } }
        return out
    }

    static func q3(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let hmask = b, d = loadHalf(b, 108)
        let scales = q3Scales(b + 96)
        var q = b + 32
        var out = y
        var scaleIndex = 0
        var m: UInt8 = 1
        for _ in 0..<2 {
            var shift: UInt8 = 0
            for _ in 0..<4 {
                for half in 0..<2 {
                    let dl = d * Float(Int(scales[scaleIndex]) - 32); scaleIndex += 1
                    for l in 0..<16 {
                        let low = Int((byte(q, l + 16 * half) >> shift) & 3)
                        let high = byte(hmask, l + 16 * half) & m != 0 ? 0 : 4
                        out[l] = dl * Float(low - high)
                    }
                    out += 16
                }
                shift += 2
                m <<= 1
            }
            q += 32
        }
    }

    /// Scale and min number j (0..<8) of Q4_K/Q5_K, 6 bits each, from the 12 packed bytes.
    @inline(__always) static func scaleMin(_ j: Int, _ s: UnsafeRawPointer) -> (UInt8, UInt8) {
        if j < 4 { return (byte(s, j) & 63, byte(s, j + 4) & 63) }
        return ((byte(s, j + 4) & 0x0F) | ((byte(s, j - 4) >> 6) << 4), (byte(s, j + 4) >> 4) | ((byte(s, j) >> 6) << 4))
    }

    static func q4(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(b, 0), dmin = loadHalf(b, 2)
        let scales = b + 4
        var q = b + 16
        var out = y
        for pair in 0..<4 {
            let (s1, m1) = scaleMin(2 * pair, scales), (s2, m2) = scaleMin(2 * pair + 1, scales)
            let d1 = d * Float(s1), min1 = dmin * Float(m1), d2 = d * Float(s2), min2 = dmin * Float(m2)
            for l in 0..<32 { out[l] = d1 * Float(byte(q, l) & 0x0F) - min1 }
            for l in 0..<32 { out[32 + l] = d2 * Float(byte(q, l) >> 4) - min2 }
            q += 32
            out += 64
        }
    }

    static func q5(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(b, 0), dmin = loadHalf(b, 2)
        let scales = b + 4, qh = b + 16
        var ql = b + 48
        var out = y
        var u1: UInt8 = 1, u2: UInt8 = 2
        for pair in 0..<4 {
            let (s1, m1) = scaleMin(2 * pair, scales), (s2, m2) = scaleMin(2 * pair + 1, scales)
            let d1 = d * Float(s1), min1 = dmin * Float(m1), d2 = d * Float(s2), min2 = dmin * Float(m2)
            for l in 0..<32 { out[l] = d1 * Float((byte(ql, l) & 0x0F) + (byte(qh, l) & u1 != 0 ? 16 : 0)) - min1 }
            for l in 0..<32 { out[32 + l] = d2 * Float((byte(ql, l) >> 4) + (byte(qh, l) & u2 != 0 ? 16 : 0)) - min2 }
            ql += 32
            out += 64
            u1 <<= 2
            u2 <<= 2
        }
    }

    static func q6(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(b, 208)
        var ql = b, qh = b + 128, sc = b + 192
        var out = y
        for _ in 0..<2 {
            for l in 0..<32 {
                let s = l / 16
                let h = byte(qh, l)
                let q1 = Int((byte(ql, l) & 0x0F) | ((h >> 0) & 3) << 4) - 32
                let q2 = Int((byte(ql, l + 32) & 0x0F) | ((h >> 2) & 3) << 4) - 32
                let q3 = Int((byte(ql, l) >> 4) | ((h >> 4) & 3) << 4) - 32
                let q4 = Int((byte(ql, l + 32) >> 4) | ((h >> 6) & 3) << 4) - 32
                func scale(_ k: Int) -> Float { Float(sc.load(fromByteOffset: k, as: Int8.self)) }
                out[l] = d * scale(s) * Float(q1)
                out[l + 32] = d * scale(s + 2) * Float(q2)
                out[l + 64] = d * scale(s + 4) * Float(q3)
                out[l + 96] = d * scale(s + 6) * Float(q4)
            }
            out += 128
            ql += 64
            qh += 32
            sc += 8
        }
    }
}
