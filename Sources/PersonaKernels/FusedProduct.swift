// y[r, o] = Σ_i x[r, i] · W[o, i] straight from the quantized weights, in one fixed arithmetic:
//
//   acc (16 lanes) starts at 0; for each 16 elements t of the row, in order:
//       acc = fma(x[16t ..< 16t+16], w[16t ..< 16t+16], acc)
//   y = ((acc[0..<8] + acc[8..<16]) reduced pairwise: 8 → 4 → 2 → 1)
//
// where w are the exact dequantized weights. Every path below (one activation row with the weights
// decoded in registers; many rows against a decoded tile) performs exactly these operations for
// each output, so a result never depends on how many rows share the call, nor on how output rows
// are split across threads. Most decode time of the forward pass is spent here.
import CPersonaPrefetch

/// The fixed final reduction of a 16-lane accumulator given as its two halves.
@inline(__always) func reduce(_ lo: SIMD8<Float>, _ hi: SIMD8<Float>) -> Float {
    let s8 = lo + hi
    let s4 = s8.lowHalf + s8.highHalf
    let s2 = s4.lowHalf + s4.highHalf
    return s2[0] + s2[1]
}

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// How many weight rows ahead `rowProduct` and `decode` prefetch. One activation row is too little
/// work per weight for the hardware prefetcher to keep ahead of a stream that is read only once
/// (4, 8 and 16 measured alike on AMD Zen 5, 2026-12-03).
let prefetchRows = 8

/// Asks for the `bytes` bytes from `p` one cache line at a time (a hint: never a result).
@inline(__always) func prefetch(_ p: UnsafeRawPointer, bytes: Int) {
    var offset = 0
    while offset < bytes { persona_prefetch(p + offset); offset += 64 }
}

enum Fused<F: GroupFormat> {
    /// One activation row `x` against weight rows `start ..< end` (decoded in registers, never
    /// stored), results y[o] (stride 1 from `y`).
    @inline(__always)
    static func rowProduct(
        _ data: UnsafeRawPointer, rowBytes: Int, columns: Int, x: UnsafePointer<Float>,
        start: Int, end: Int, y: UnsafeMutablePointer<Float>
    ) {
        let groups = columns / 32
        var o = start
        // Two weight rows at a time: independent accumulation chains to overlap.
        while o + 2 <= end {
            let r0 = data + o * rowBytes, r1 = r0 + rowBytes
            if o + prefetchRows + 2 <= end { prefetch(r0 + prefetchRows * rowBytes, bytes: 2 * rowBytes) }
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
            for g in 0..<groups {
                let xa = load16(x + 32 &* g), xb = load16(x + (32 &* g &+ 16))
                let (u0, v0) = F.group(r0, g)
                let (u1, v1) = F.group(r1, g)
                a0.addProduct(xa, u0); a1.addProduct(xa, u1)
                a0.addProduct(xb, v0); a1.addProduct(xb, v1)
            }
            y[o] = reduce(a0.lowHalf, a0.highHalf)
            y[o + 1] = reduce(a1.lowHalf, a1.highHalf)
            o += 2
        }
        if o < end {
            let r0 = data + o * rowBytes
            var a0 = SIMD16<Float>()
            for g in 0..<groups {
                let (u0, v0) = F.group(r0, g)
                a0.addProduct(load16(x + 32 &* g), u0)
                a0.addProduct(load16(x + (32 &* g &+ 16)), v0)
            }
            y[o] = reduce(a0.lowHalf, a0.highHalf)
        }
    }

    /// Decodes weight rows `start ..< end` into `tile` (row-major, `columns` floats per row).
    @inline(__always)
    static func decode(
        _ data: UnsafeRawPointer, rowBytes: Int, columns: Int, start: Int, end: Int,
        into tile: UnsafeMutablePointer<Float>
    ) {
        let groups = columns / 32
        for o in start..<end {
            let row = data + o * rowBytes, out = tile + (o - start) * columns
            if o + prefetchRows < end { prefetch(row + prefetchRows * rowBytes, bytes: rowBytes) }
            for g in 0..<groups {
                let (u, v) = F.group(row, g)
                store16(u, out + 32 * g)
                store16(v, out + 32 * g + 16)
            }
        }
    }
}
