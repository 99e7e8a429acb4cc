// Many activation rows against a tile of decoded weight rows (kept in cache): a register-blocked
// micro-kernel of 3 activation rows × 2 weight rows (6 × 2 in the AVX-512 build, which has 32
// vector registers). Each output keeps its own 16-lane accumulator (two ymm registers in the AVX2
// build, one zmm register in the AVX-512 build: lane by lane the same fused multiply-adds, so the
// same bits) and goes through the k dimension in order, so its arithmetic is exactly the one-row
// path's (FusedProduct.swift) whatever the block it falls in. Long rows are walked in k-blocks so
// that the rows in use stay in L1; between blocks the accumulators are parked in memory (stored and
// reloaded exactly: the arithmetic does not change).

enum Tiled {
    /// Elements of k per block: 3 activation rows + 2 weight rows of 1024 floats = 20 KiB.
    static let kBlock = 1024

    /// Floats of accumulator scratch `multiply` needs (`count` rows against `tileRows`).
    static func parkingFloats(count: Int, tileRows: Int, columns: Int) -> Int {
        columns > kBlock ? count * tileRows * 16 : 0
    }

    /// y[r·ldy + o] = x[r] · tile[o] for r in 0..<count, o in 0..<tileRows (x: [count, columns],
    /// tile: [tileRows, columns], both row-major, columns a multiple of 16). `parking` holds
    /// `parkingFloats(count:tileRows:columns:)` floats.
    @inline(never)
    static func multiply(
        tile: UnsafePointer<Float>, tileRows: Int, columns n: Int, x: UnsafePointer<Float>, count: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, parking: UnsafeMutablePointer<Float>
    ) {
        var k0 = 0
        while k0 < n {
            let k1 = min(n, k0 + kBlock)
            let span = Span(start: k0, end: k1, first: k0 == 0, last: k1 == n)
            var r = 0
            #if PERSONA_AVX512
                // 32 vector registers: 6 rows × 2 weight rows (12 accumulators) halve how often the
                // tile is read from L2 against the 3 × 2 block that 16 registers allow.
                while count - r >= 6 {
                    var o = 0
                    while o + 2 <= tileRows {
                        block6x2(
                            x + r * n, n, tile + o * n, tile + (o + 1) * n, span,
                            parking + (r * tileRows + o) * 16, tileRows * 16, y + r * ldy + o, ldy)
                        o += 2
                    }
                    if o < tileRows {
                        for k in r..<(r + 6) { block1x1(x + k * n, tile + o * n, span, parking + (k * tileRows + o) * 16, y + k * ldy + o) }
                    }
                    r += 6
                }
            #endif
            while r < count {
                let rowsHere = min(3, count - r)
                var o = 0
                while o < tileRows {
                    let pair = o + 2 <= tileRows
                    let w0 = tile + o * n, w1 = pair ? w0 + n : w0
                    if rowsHere == 3 && pair {
                        block3x2(
                            x + r * n, x + (r + 1) * n, x + (r + 2) * n, w0, w1, n: n, span,
                            parking + (r * tileRows + o) * 16, tileRows * 16, y + r * ldy + o, ldy)
                    } else if rowsHere == 2 && pair {
                        block2x2(
                            x + r * n, x + (r + 1) * n, w0, w1, span, parking + (r * tileRows + o) * 16, tileRows * 16,
                            y + r * ldy + o, ldy)
                    } else if pair {
                        block2x2(x + r * n, x + r * n, w0, w1, span, parking + (r * tileRows + o) * 16, 0, y + r * ldy + o, 0)
                    } else {
                        for k in r..<(r + rowsHere) {
                            block1x1(x + k * n, w0, span, parking + (k * tileRows + o) * 16, y + k * ldy + o)
                            if pair { block1x1(x + k * n, w1, span, parking + (k * tileRows + o + 1) * 16, y + k * ldy + o + 1) }
                        }
                    }
                    o += pair ? 2 : 1
                }
                r += rowsHere
            }
            k0 = k1
        }
    }

    /// A k-block: elements start..<end; the first block starts from zero, the last one reduces.
    struct Span {
        let start: Int, end: Int, first: Bool, last: Bool
    }

    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>, _ first: Bool) -> SIMD16<Float> {
        first ? SIMD16<Float>() : load16(p)
    }

    /// Reduces an accumulator as its two 8-lane halves (`reduce`, the one-row path's order), or
    /// parks it.
    @inline(__always) static func finish(
        _ c: SIMD16<Float>, _ last: Bool,
        _ parked: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>
    ) {
        if last {
            y.pointee = reduce(c.lowHalf, c.highHalf)
        } else {
            store16(c, parked)
        }
    }

    /// Outputs (r, o) for 3 rows × 2 weight rows; parked accumulators of row r, output o at
    /// `parked + r·rowStride + 16·o`.
    @inline(__always)
    static func block3x2(
        _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>,
        _ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, n: Int, _ span: Span,
        _ parked: UnsafeMutablePointer<Float>, _ rowStride: Int,
        _ y: UnsafeMutablePointer<Float>, _ ldy: Int
    ) {
        var c00 = load(parked, span.first), c01 = load(parked + 16, span.first)
        var c10 = load(parked + rowStride, span.first), c11 = load(parked + rowStride + 16, span.first)
        var c20 = load(parked + 2 * rowStride, span.first), c21 = load(parked + 2 * rowStride + 16, span.first)
        var i = span.start
        while i < span.end {
            let a = load16(w0 + i), b = load16(w1 + i)
            let x0i = load16(x0 + i); c00.addProduct(x0i, a); c01.addProduct(x0i, b)
            let x1i = load16(x1 + i); c10.addProduct(x1i, a); c11.addProduct(x1i, b)
            let x2i = load16(x2 + i); c20.addProduct(x2i, a); c21.addProduct(x2i, b)
            i += 16
        }
        finish(c00, span.last, parked, y); finish(c01, span.last, parked + 16, y + 1)
        finish(c10, span.last, parked + rowStride, y + ldy); finish(c11, span.last, parked + rowStride + 16, y + ldy + 1)
        finish(c20, span.last, parked + 2 * rowStride, y + 2 * ldy)
        finish(c21, span.last, parked + 2 * rowStride + 16, y + 2 * ldy + 1)
    }

    /// Outputs (r, o) for 6 rows × 2 weight rows (rows `x + j·n`); parked as in `block3x2`.
    @inline(__always)
    static func block6x2(
        _ x: UnsafePointer<Float>, _ n: Int,
        _ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ span: Span,
        _ parked: UnsafeMutablePointer<Float>, _ rowStride: Int,
        _ y: UnsafeMutablePointer<Float>, _ ldy: Int
    ) {
        let x0 = x, x1 = x + n, x2 = x + 2 * n, x3 = x + 3 * n, x4 = x + 4 * n, x5 = x + 5 * n
        let p0 = parked, p1 = parked + rowStride, p2 = parked + 2 * rowStride
        let p3 = parked + 3 * rowStride, p4 = parked + 4 * rowStride, p5 = parked + 5 * rowStride
        var c00 = load(p0, span.first), c01 = load(p0 + 16, span.first)
        var c10 = load(p1, span.first), c11 = load(p1 + 16, span.first)
        var c20 = load(p2, span.first), c21 = load(p2 + 16, span.first)
        var c30 = load(p3, span.first), c31 = load(p3 + 16, span.first)
        var c40 = load(p4, span.first), c41 = load(p4 + 16, span.first)
        var c50 = load(p5, span.first), c51 = load(p5 + 16, span.first)
        var i = span.start
        while i < span.end {
            let a = load16(w0 + i), b = load16(w1 + i)
            let x0i = load16(x0 + i); c00.addProduct(x0i, a); c01.addProduct(x0i, b)
            let x1i = load16(x1 + i); c10.addProduct(x1i, a); c11.addProduct(x1i, b)
            let x2i = load16(x2 + i); c20.addProduct(x2i, a); c21.addProduct(x2i, b)
            let x3i = load16(x3 + i); c30.addProduct(x3i, a); c31.addProduct(x3i, b)
            let x4i = load16(x4 + i); c40.addProduct(x4i, a); c41.addProduct(x4i, b)
            let x5i = load16(x5 + i); c50.addProduct(x5i, a); c51.addProduct(x5i, b)
            i += 16
        }
        finish(c00, span.last, p0, y); finish(c01, span.last, p0 + 16, y + 1)
        finish(c10, span.last, p1, y + ldy); finish(c11, span.last, p1 + 16, y + ldy + 1)
        finish(c20, span.last, p2, y + 2 * ldy); finish(c21, span.last, p2 + 16, y + 2 * ldy + 1)
        finish(c30, span.last, p3, y + 3 * ldy); finish(c31, span.last, p3 + 16, y + 3 * ldy + 1)
        finish(c40, span.last, p4, y + 4 * ldy); finish(c41, span.last, p4 + 16, y + 4 * ldy + 1)
        finish(c50, span.last, p5, y + 5 * ldy); finish(c51, span.last, p5 + 16, y + 5 * ldy + 1)
    }

    /// Outputs (r, o) for 2 rows × 2 weight rows (with x1 = x0 and rowStride = ldy = 0: one row).
    @inline(__always)
    static func block2x2(
        _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
        _ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ span: Span,
        _ parked: UnsafeMutablePointer<Float>, _ rowStride: Int,
        _ y: UnsafeMutablePointer<Float>, _ ldy: Int
    ) {
        var c00 = load(parked, span.first), c01 = load(parked + 16, span.first)
        var c10 = load(parked + rowStride, span.first), c11 = load(parked + rowStride + 16, span.first)
        var i = span.start
        while i < span.end {
            let a = load16(w0 + i), b = load16(w1 + i)
            let x0i = load16(x0 + i); c00.addProduct(x0i, a); c01.addProduct(x0i, b)
            let x1i = load16(x1 + i); c10.addProduct(x1i, a); c11.addProduct(x1i, b)
            i += 16
        }
        // Row 1 second so that, for a single row (x1 = x0), its stores come last (same values).
        finish(c00, span.last, parked, y); finish(c01, span.last, parked + 16, y + 1)
        finish(c10, span.last, parked + rowStride, y + ldy); finish(c11, span.last, parked + rowStride + 16, y + ldy + 1)
    }

    @inline(__always)
    static func block1x1(
        _ x0: UnsafePointer<Float>, _ w0: UnsafePointer<Float>, _ span: Span,
        _ parked: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>
    ) {
        var c = load(parked, span.first)
        var i = span.start
        while i < span.end {
            c.addProduct(load16(x0 + i), load16(w0 + i))
            i += 16
        }
        finish(c, span.last, parked, y)
    }
}
