// Many activation rows against a tile of decoded weight rows (kept in cache): a register-blocked
// micro-kernel of 3 activation rows × 2 weight rows. Each output keeps its own 16-lane accumulator
// (as two 8-lane halves) and goes through the k dimension in order, so its arithmetic is exactly the
// one-row path's (FusedProduct.swift) whatever the block it falls in. Long rows are walked in
// k-blocks so that the rows in use stay in L1; between blocks the accumulators are parked in
// memory (stored and reloaded exactly: the arithmetic does not change).

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
    static func multiply(tile: UnsafePointer<Float>, tileRows: Int, columns n: Int, x: UnsafePointer<Float>, count: Int,
                         y: UnsafeMutablePointer<Float>, ldy: Int, parking: UnsafeMutablePointer<Float>) {
        var k0 = 0
        while k0 < n {
            let k1 = min(n, k0 + kBlock)
            let span = Span(start: k0, end: k1, first: k0 == 0, last: k1 == n)
            var r = 0
            while r < count {
                let rowsHere = min(3, count - r)
                var o = 0
                while o < tileRows {
                    let pair = o + 2 <= tileRows
                    let w0 = tile + o * n, w1 = pair ? w0 + n : w0
                    if rowsHere == 3 && pair {
                        block3x2(x + r * n, x + (r + 1) * n, x + (r + 2) * n, w0, w1, n: n, span,
                                 parking + (r * tileRows + o) * 16, tileRows * 16, y + r * ldy + o, ldy)
                    } else if rowsHere == 2 && pair {
                        block2x2(x + r * n, x + (r + 1) * n, w0, w1, span, parking + (r * tileRows + o) * 16, tileRows * 16,
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

    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>, _ first: Bool) -> (SIMD8<Float>, SIMD8<Float>) {
        if first { return (SIMD8<Float>(), SIMD8<Float>()) }
        return (load8(p), load8(p + 8))
    }

    @inline(__always) static func finish(_ lo: SIMD8<Float>, _ hi: SIMD8<Float>, _ last: Bool,
                                         _ parked: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        if last {
            y.pointee = reduce(lo, hi)
        } else {
            UnsafeMutableRawPointer(parked).storeBytes(of: lo, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(parked + 8).storeBytes(of: hi, as: SIMD8<Float>.self)
        }
    }

    /// Outputs (r, o) for 3 rows × 2 weight rows; parked accumulators of row r, output o at
    /// `parked + r·rowStride + 16·o`.
    @inline(__always)
    static func block3x2(_ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>,
                         _ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, n: Int, _ span: Span,
                         _ parked: UnsafeMutablePointer<Float>, _ rowStride: Int,
                         _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        var (c00l, c00h) = load(parked, span.first), (c01l, c01h) = load(parked + 16, span.first)
        var (c10l, c10h) = load(parked + rowStride, span.first), (c11l, c11h) = load(parked + rowStride + 16, span.first)
        var (c20l, c20h) = load(parked + 2 * rowStride, span.first), (c21l, c21h) = load(parked + 2 * rowStride + 16, span.first)
        var i = span.start
        while i < span.end {
            let w0l = load8(w0 + i), w1l = load8(w1 + i)
            let x0l = load8(x0 + i); c00l.addProduct(x0l, w0l); c01l.addProduct(x0l, w1l)
            let x1l = load8(x1 + i); c10l.addProduct(x1l, w0l); c11l.addProduct(x1l, w1l)
            let x2l = load8(x2 + i); c20l.addProduct(x2l, w0l); c21l.addProduct(x2l, w1l)
            let w0h = load8(w0 + i + 8), w1h = load8(w1 + i + 8)
            let x0h = load8(x0 + i + 8); c00h.addProduct(x0h, w0h); c01h.addProduct(x0h, w1h)
            let x1h = load8(x1 + i + 8); c10h.addProduct(x1h, w0h); c11h.addProduct(x1h, w1h)
            let x2h = load8(x2 + i + 8); c20h.addProduct(x2h, w0h); c21h.addProduct(x2h, w1h)
            i += 16
        }
        finish(c00l, c00h, span.last, parked, y); finish(c01l, c01h, span.last, parked + 16, y + 1)
        finish(c10l, c10h, span.last, parked + rowStride, y + ldy); finish(c11l, c11h, span.last, parked + rowStride + 16, y + ldy + 1)
        finish(c20l, c20h, span.last, parked + 2 * rowStride, y + 2 * ldy)
        finish(c21l, c21h, span.last, parked + 2 * rowStride + 16, y + 2 * ldy + 1)
    }

    /// Outputs (r, o) for 2 rows × 2 weight rows (with x1 = x0 and rowStride = ldy = 0: one row).
    @inline(__always)
    static func block2x2(_ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
                         _ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ span: Span,
                         _ parked: UnsafeMutablePointer<Float>, _ rowStride: Int,
                         _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        var (c00l, c00h) = load(parked, span.first), (c01l, c01h) = load(parked + 16, span.first)
        var (c10l, c10h) = load(parked + rowStride, span.first), (c11l, c11h) = load(parked + rowStride + 16, span.first)
        var i = span.start
        while i < span.end {
            let w0l = load8(w0 + i), w1l = load8(w1 + i)
            let x0l = load8(x0 + i); c00l.addProduct(x0l, w0l); c01l.addProduct(x0l, w1l)
            let x1l = load8(x1 + i); c10l.addProduct(x1l, w0l); c11l.addProduct(x1l, w1l)
            let w0h = load8(w0 + i + 8), w1h = load8(w1 + i + 8)
            let x0h = load8(x0 + i + 8); c00h.addProduct(x0h, w0h); c01h.addProduct(x0h, w1h)
            let x1h = load8(x1 + i + 8); c10h.addProduct(x1h, w0h); c11h.addProduct(x1h, w1h)
            i += 16
        }
        // Row 1 second so that, for a single row (x1 = x0), its stores come last (same values).
        finish(c00l, c00h, span.last, parked, y); finish(c01l, c01h, span.last, parked + 16, y + 1)
        finish(c10l, c10h, span.last, parked + rowStride, y + ldy); finish(c11l, c11h, span.last, parked + rowStride + 16, y + ldy + 1)
    }

    @inline(__always)
    static func block1x1(_ x0: UnsafePointer<Float>, _ w0: UnsafePointer<Float>, _ span: Span,
                         _ parked: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        var (lo, hi) = load(parked, span.first)
        var i = span.start
        while i < span.end {
            lo.addProduct(load8(x0 + i), load8(w0 + i))
            hi.addProduct(load8(x0 + i + 8), load8(w0 + i + 8))
            i += 16
        }
        finish(lo, hi, span.last, parked, y)
    }
}
