// Fast decoders of one weight row, used by the quantized matrix–vector kernel. Each produces
// exactly the floats of the plain reference decoder (Quant/), only with SIMD: same operations in
// the same order, no fused multiply-add. Tests compare both bit for bit. Types without a fast
// decoder fall back to the reference one.

enum RowDecoders {
    typealias Decode = (UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void

    /// A decoder for `count` elements (whole blocks) of `type`, from `source` into `output`.
    static func decoder(for type: GGMLType) -> Decode? {
        switch type {
        case .f32: return { s, y, n in y.update(from: s.assumingMemoryBound(to: Float.self), count: n) }
        case .q8_0: return q8_0
        case .q4_0: return q4_0
        case .q4_1: return q4_1
        case .q5_0: return q5_0
        case .q4_K: return q4_K
        case .q6_K: return q6_K
        default:
            guard let block = Dequantize.blockDecoder(type) else { return nil }
            let bs = type.blockSize, ts = type.typeSize
            return { s, y, n in for i in 0..<(n / bs) { block(s + i * ts, y + i * bs) } }
        }
    }

    @inline(__always) static func store(_ v: SIMD16<Float>, _ y: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(y).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    // Lane-by-lane conversions written out: the generic SIMD initializers are not inlined (a call
    // per 16 values, converting one lane at a time); these loops inline and vectorize.
    @inline(__always) static func floats(_ v: SIMD16<UInt8>) -> SIMD16<Float> {
        var out = SIMD16<Float>()
        for i in 0..<16 { out[i] = Float(v[i]) }
        return out
    }

    @inline(__always) static func floats(_ v: SIMD16<Int8>) -> SIMD16<Float> {
        var out = SIMD16<Float>()
        for i in 0..<16 { out[i] = Float(v[i]) }
        return out
    }

    @inline(__always) static func floats(_ v: SIMD16<Int32>) -> SIMD16<Float> {
        var out = SIMD16<Float>()
        for i in 0..<16 { out[i] = Float(v[i]) }
        return out
    }

    static func q8_0(_ s: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / 32) {
            let p = s + b * 34, out = y + b * 32
            let d = SIMD16<Float>(repeating: loadHalf(p, 0))
            store(floats(p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)) * d, out)
            store(floats(p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)) * d, out + 16)
        }
    }

    static func q4_0(_ s: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / 32) {
            let p = s + b * 18, out = y + b * 32
            let d = SIMD16<Float>(repeating: loadHalf(p, 0))
            let q = p.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
            store(floats(unsafeBitCast(q & 0x0F, to: SIMD16<Int8>.self) &- SIMD16<Int8>(repeating: 8)) * d, out)
            store(floats(unsafeBitCast(q &>> 4, to: SIMD16<Int8>.self) &- SIMD16<Int8>(repeating: 8)) * d, out + 16)
        }
    }

    static func q4_1(_ s: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / 32) {
            let p = s + b * 20, out = y + b * 32
            let d = SIMD16<Float>(repeating: loadHalf(p, 0)), m = SIMD16<Float>(repeating: loadHalf(p, 2))
            let q = p.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
            store(floats(q & 0x0F) * d + m, out)
            store(floats(q &>> 4) * d + m, out + 16)
        }
    }

    /// For each byte b of Q5_0's high bits, eight bytes holding 0x10 where bit k of b is set: the
    /// fifth bits of eight elements without per-lane variable shifts.
    static let highBits: [UInt64] = (0..<256).map { b in
        var v: UInt64 = 0
        for k in 0..<8 where b & (1 << k) != 0 { v |= 0x10 << (8 * UInt64(k)) }
        return v
    }

    static func q5_0(_ s: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let sixteen = SIMD16<Int8>(repeating: 16)
        highBits.withUnsafeBufferPointer { table in
            for b in 0..<(n / 32) {
                let p = s + b * 22, out = y + b * 32
                let d = SIMD16<Float>(repeating: loadHalf(p, 0))
                // Elements 0…15 take bits 0…15 of qh, elements 16…31 bits 16…31.
                @inline(__always) func bits(_ k: Int) -> UInt64 { table[Int(p.load(fromByteOffset: 2 + k, as: UInt8.self))] }
                let h0 = unsafeBitCast(SIMD2<UInt64>(bits(0), bits(1)), to: SIMD16<UInt8>.self)
                let h1 = unsafeBitCast(SIMD2<UInt64>(bits(2), bits(3)), to: SIMD16<UInt8>.self)
                let q = p.loadUnaligned(fromByteOffset: 6, as: SIMD16<UInt8>.self)
                let lo = unsafeBitCast((q & 0x0F) | h0, to: SIMD16<Int8>.self) &- sixteen
                let hi = unsafeBitCast((q &>> 4) | h1, to: SIMD16<Int8>.self) &- sixteen
                store(floats(lo) * d, out)
                store(floats(hi) * d, out + 16)
            }
        }
    }

    static func q4_K(_ s: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / 256) {
            let p = s + b * 144, out = y + b * 256
            let d = loadHalf(p, 0), dmin = loadHalf(p, 2)
            let scales = p + 4
            for pair in 0..<4 {
                let (s1, m1) = QuantK.scaleMin(2 * pair, scales), (s2, m2) = QuantK.scaleMin(2 * pair + 1, scales)
                let d1 = SIMD16<Float>(repeating: d * Float(s1)), min1 = SIMD16<Float>(repeating: dmin * Float(m1))
                let d2 = SIMD16<Float>(repeating: d * Float(s2)), min2 = SIMD16<Float>(repeating: dmin * Float(m2))
                let q = p + 16 + 32 * pair, o = out + 64 * pair
                for half in 0..<2 {
                    let v = q.loadUnaligned(fromByteOffset: 16 * half, as: SIMD16<UInt8>.self)
                    store(d1 * floats(v & 0x0F) - min1, o + 16 * half)
                    store(d2 * floats(v &>> 4) - min2, o + 32 + 16 * half)
                }
            }
        }
    }

    static func q6_K(_ s: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for b in 0..<(n / 256) {
            let p = s + b * 210, out = y + b * 256
            let d = loadHalf(p, 208)
            for chunk in 0..<2 {
                let ql = p + 64 * chunk, qh = p + 128 + 32 * chunk, sc = p + 192 + 8 * chunk
                let o = out + 128 * chunk
                for half in 0..<2 {
                    let l = 16 * half
                    let a = ql.loadUnaligned(fromByteOffset: l, as: SIMD16<UInt8>.self)
                    let c = ql.loadUnaligned(fromByteOffset: l + 32, as: SIMD16<UInt8>.self)
                    let h = qh.loadUnaligned(fromByteOffset: l, as: SIMD16<UInt8>.self)
                    func value(_ v: SIMD16<UInt8>) -> SIMD16<Float> { floats(unsafeBitCast(v, to: SIMD16<Int8>.self) &- SIMD16<Int8>(repeating: 32)) }
                    func scale(_ k: Int) -> SIMD16<Float> { SIMD16<Float>(repeating: d * Float(sc.load(fromByteOffset: k, as: Int8.self))) }
                    store(scale(half) * value((a & 0x0F) | ((h & 3) &<< 4)), o + l)
                    store(scale(half + 2) * value((c & 0x0F) | (((h &>> 2) & 3) &<< 4)), o + l + 32)
                    store(scale(half + 4) * value((a &>> 4) | (((h &>> 4) & 3) &<< 4)), o + l + 64)
                    store(scale(half + 6) * value((c &>> 4) | (((h &>> 6) & 3) &<< 4)), o + l + 96)
                }
            }
        }
    }
}
