// The entry point of the fused quantized kernels. PersonaTensor's QuantizedMatrix chooses them
// (this build or the AVX-512 one of the same files) when the processor supports its instruction
// level, splits the output rows across threads and supplies the scratch tile; the plain
// decode-and-dot path stays as the reference.

/// The weight formats with a fused kernel.
/// Raw values are ggml's type ids (GGMLType in PersonaTensor), so that either build of these
/// kernels maps a weight type to its format the same way.
public enum FusedFormat: UInt32, Sendable, CaseIterable {
    case f32 = 0, q4_0 = 2, q4_1 = 3, q5_0 = 6, q8_0 = 8, q4_K = 12, q6_K = 14

    /// Elements per block (a row's `columns` must be a multiple).
    public var blockSize: Int {
        switch self {
        case .f32, .q8_0, .q4_0, .q4_1, .q5_0: return 32
        case .q4_K, .q6_K: return 256
        }
    }
}

public enum FusedKernels {
    /// Fewer activation rows than this decode each weight row in registers once per activation
    /// row; more decode a tile of weight rows once and share it. The arithmetic is the same.
    public static let tileThreshold = 3

    /// Floats of scratch `multiply` needs for a tile of weight rows of `columns` elements.
    public static func tileFloats(columns: Int) -> Int { tileRows(columns: columns) * columns }

    /// Weight rows per tile: about 128 KiB of floats (L2), at least 2 rows.
    static func tileRows(columns: Int) -> Int { max(2, (32 * 1024 / max(columns, 1)) & ~1) }

    /// y[r·ldy + o] = Σ_i x[r·columns + i] · W[o, i] for r in 0..<count and o in `outputs`, where
    /// row o of W starts at `data + o·rowBytes` in `format`. `tile` holds `tileFloats(columns:)`.
    public static func multiply(
        format: FusedFormat, data: UnsafeRawPointer, rowBytes: Int, columns: Int,
        x: UnsafePointer<Float>, count: Int, outputs: Range<Int>,
        y: UnsafeMutablePointer<Float>, ldy: Int, tile: UnsafeMutablePointer<Float>
    ) {
        switch format {
        case .f32: run(F32Format.self, data, rowBytes, columns, x, count, outputs, y, ldy, tile)
        case .q8_0: run(Q8_0Format.self, data, rowBytes, columns, x, count, outputs, y, ldy, tile)
        case .q4_0: run(Q4_0Format.self, data, rowBytes, columns, x, count, outputs, y, ldy, tile)
        case .q4_1: run(Q4_1Format.self, data, rowBytes, columns, x, count, outputs, y, ldy, tile)
        case .q5_0: run(Q5_0Format.self, data, rowBytes, columns, x, count, outputs, y, ldy, tile)
        case .q4_K: run(Q4_KFormat.self, data, rowBytes, columns, x, count, outputs, y, ldy, tile)
        case .q6_K: run(Q6_KFormat.self, data, rowBytes, columns, x, count, outputs, y, ldy, tile)
        }
    }

    /// Decodes weight rows `outputs` into `into` (row-major): the exact dequantized values.
    public static func decode(
        format: FusedFormat, data: UnsafeRawPointer, rowBytes: Int, columns: Int,
        outputs: Range<Int>, into: UnsafeMutablePointer<Float>
    ) {
        func go<F: GroupFormat>(_ f: F.Type) {
            Fused<F>.decode(data, rowBytes: rowBytes, columns: columns, start: outputs.lowerBound, end: outputs.upperBound, into: into)
        }
        switch format {
        case .f32: go(F32Format.self)
        case .q8_0: go(Q8_0Format.self)
        case .q4_0: go(Q4_0Format.self)
        case .q4_1: go(Q4_1Format.self)
        case .q5_0: go(Q5_0Format.self)
        case .q4_K: go(Q4_KFormat.self)
        case .q6_K: go(Q6_KFormat.self)
        }
    }

    @inline(never)
    static func run<F: GroupFormat>(
        _ f: F.Type, _ data: UnsafeRawPointer, _ rowBytes: Int, _ columns: Int,
        _ x: UnsafePointer<Float>, _ count: Int, _ outputs: Range<Int>,
        _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ tile: UnsafeMutablePointer<Float>
    ) {
        if count < tileThreshold {
            for r in 0..<count {
                Fused<F>.rowProduct(
                    data, rowBytes: rowBytes, columns: columns, x: x + r * columns,
                    start: outputs.lowerBound, end: outputs.upperBound, y: y + r * ldy)
            }
            return
        }
        let step = tileRows(columns: columns)
        let parkingCount = Tiled.parkingFloats(count: count, tileRows: step, columns: columns)
        let parking = UnsafeMutablePointer<Float>.allocate(capacity: max(parkingCount, 1))
        defer { parking.deallocate() }
        var start = outputs.lowerBound
        while start < outputs.upperBound {
            let end = min(outputs.upperBound, start + step)
            Fused<F>.decode(data, rowBytes: rowBytes, columns: columns, start: start, end: end, into: tile)
            Tiled.multiply(
                tile: tile, tileRows: end - start, columns: columns, x: x, count: count, y: y + start, ldy: ldy,
                parking: parking)
            start = end
        }
    }
}
