// The 32-element block formats of ggml (ggml-common.h: block_q4_0 … block_q8_0), one plain
// reference decoder each. The arithmetic order matches ggml's dequantize_row_* and gguf-py's
// numpy decoders, so results are bit-equal to both.
//
// Layouts (little-endian; d, m are binary16):
//   Q4_0 (18 B): d, qs[16]          x[j] = (lo(qs[j]) − 8)·d, x[j+16] = (hi(qs[j]) − 8)·d
//   Q4_1 (20 B): d, m, qs[16]       x = q·d + m
//   Q5_0 (22 B): d, qh[4], qs[16]   5th bit of element j in bit j of qh (uint32); x = (q − 16)·d
//   Q5_1 (24 B): d, m, qh[4], qs[16] x = q·d + m
//   Q8_0 (34 B): d, qs[32] (int8)   x = q·d

@inline(__always) func loadHalf(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    Half.toFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

enum QuantLegacy {
    static let q4_0Size = 2 + 16
    static let q4_1Size = 2 + 2 + 16
    static let q5_0Size = 2 + 4 + 16
    static let q5_1Size = 2 + 2 + 4 + 16
    static let q8_0Size = 2 + 32

    static func q4_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(b, 0)
        let qs = b + 2
        for j in 0..<16 {
            let q = qs.load(fromByteOffset: j, as: UInt8.self)
            y[j] = Float(Int(q & 0x0F) - 8) * d
            y[j + 16] = Float(Int(q >> 4) - 8) * d
        }
    }

    static func q4_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(b, 0), m = loadHalf(b, 2)
        let qs = b + 4
        for j in 0..<16 {
            let q = qs.load(fromByteOffset: j, as: UInt8.self)
            y[j] = Float(q & 0x0F) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }

    static func q5_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(b, 0)
        let qh = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        let qs = b + 6
        for j in 0..<16 {
            let q = qs.load(fromByteOffset: j, as: UInt8.self)
            let h0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
            let h1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
            y[j] = Float(Int((q & 0x0F) | h0) - 16) * d
            y[j + 16] = Float(Int((q >> 4) | h1) - 16) * d
        }
    }

    static func q5_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(b, 0), m = loadHalf(b, 2)
        let qh = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let qs = b + 8
        for j in 0..<16 {
            let q = qs.load(fromByteOffset: j, as: UInt8.self)
            let h0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
            let h1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
            y[j] = Float((q & 0x0F) | h0) * d + m
            y[j + 16] = Float((q >> 4) | h1) * d + m
        }
    }

    static func q8_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(b, 0)
        for j in 0..<32 { y[j] = Float(b.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
    }
}
