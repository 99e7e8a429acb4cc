// Many activation rows against a tile of decoded weight rows (kept in cache): a register-blocked
// micro-kernel of 3 activation rows × 2 weight rows. Each output keeps its own 16-lane accumulator
// (as two 8-lane halves) and goes through the k dimension in order, so its arithmetic is exactly the
// one-row path's (FusedProduct.swift) whatever the block it falls in.

enum Tiled {
    /// y[r·ldy + o] = x[r] · tile[o] for r in 0..<count, o in 0..<tileRows (x: [count, columns],
    /// tile: [tileRows, columns], both row-major, columns a multiple of 16).
    @inline(never)
    static func multiply(tile: UnsafePointer<Float>, tileRows: Int, columns n: Int, x: UnsafePointer<Float>, count: Int,
                         y: UnsafeMutablePointer<Float>, ldy: Int) {
        var r = 0
        while r < count {
            let rowsHere = min(3, count - r)
            var o = 0
            while o + 2 <= tileRows {
                let w0 = tile + o * n, w1 = w0 + n
                if rowsHere == 3 {
                    block3x2(x + r * n, x + (r + 1) * n, x + (r + 2) * n, w0, w1, n, y + r * ldy + o, ldy)
                } else {
                    for k in r..<(r + rowsHere) { block1x2(x + k * n, w0, w1, n, y + k * ldy + o) }
                }
                o += 2
            }
            if o < tileRows {
                for k in r..<(r + rowsHere) { y[k * ldy + o] = block1x1(x + k * n, tile + o * n, n) }
            }
            r += rowsHere
        }
    }

    @inline(__always)
    static func block3x2(_ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>,
                         _ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ n: Int,
                         _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        var c00l = SIMD8<Float>(), c00h = SIMD8<Float>(), c01l = SIMD8<Float>(), c01h = SIMD8<Float>()
        var c10l = SIMD8<Float>(), c10h = SIMD8<Float>(), c11l = SIMD8<Float>(), c11h = SIMD8<Float>()
        var c20l = SIMD8<Float>(), c20h = SIMD8<Float>(), c21l = SIMD8<Float>(), c21h = SIMD8<Float>()
        var i = 0
        while i < n {
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
        y[0] = reduce(c00l, c00h); y[1] = reduce(c01l, c01h)
        y[ldy] = reduce(c10l, c10h); y[ldy + 1] = reduce(c11l, c11h)
        y[2 * ldy] = reduce(c20l, c20h); y[2 * ldy + 1] = reduce(c21l, c21h)
    }

    @inline(__always)
    static func block1x2(_ x0: UnsafePointer<Float>, _ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ n: Int,
                         _ y: UnsafeMutablePointer<Float>) {
        var c0 = SIMD16<Float>(), c1 = SIMD16<Float>()
        var i = 0
        while i < n {
            let v = load16(x0 + i)
            c0.addProduct(v, load16(w0 + i)); c1.addProduct(v, load16(w1 + i))
            i += 16
        }
        y[0] = reduce(c0.lowHalf, c0.highHalf); y[1] = reduce(c1.lowHalf, c1.highHalf)
    }

    @inline(__always)
    static func block1x1(_ x0: UnsafePointer<Float>, _ w0: UnsafePointer<Float>, _ n: Int) -> Float {
        var c0 = SIMD16<Float>()
        var i = 0
        while i < n { c0.addProduct(load16(x0 + i), load16(w0 + i)); i += 16 }
        return reduce(c0.lowHalf, c0.highHalf)
    }
}
