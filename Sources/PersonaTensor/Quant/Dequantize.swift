// The public entry to the block decoders: float32 values from raw tensor bytes of any supported
// ggml type. Checks the element count against the block size and the bytes against the need.
import Foundation

public enum Dequantize {
    /// The decoder of one block, or nil for types we do not decode.
    static func blockDecoder(_ type: GGMLType) -> ((UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void)? {
        switch type {
        case .f32: return { b, y in y[0] = Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(as: UInt32.self))) }
        case .f16: return { b, y in y[0] = loadHalf(b, 0) }
        case .bf16: return { b, y in y[0] = Half.bfloat16ToFloat(UInt16(littleEndian: b.loadUnaligned(as: UInt16.self))) }
        case .q4_0: return QuantLegacy.q4_0
        case .q4_1: return QuantLegacy.q4_1
        case .q5_0: return QuantLegacy.q5_0
        case .q5_1: return QuantLegacy.q5_1
        case .q8_0: return QuantLegacy.q8_0
        case .q2_K: return QuantK.q2
        case .q3_K: return QuantK.q3
        case .q4_K: return QuantK.q4
        case .q5_K: return QuantK.q5
        case .q6_K: return QuantK.q6
        default: return nil
        }
    }

    /// Whether `type` can be decoded.
    public static func supports(_ type: GGMLType) -> Bool { blockDecoder(type) != nil }

    /// Decodes `elements` values of `type` from `bytes` into `output` (which must hold them).
    /// Large tensors are decoded on all cores; the result does not depend on how work is split.
    public static func rows(
        type: GGMLType, from bytes: UnsafeRawBufferPointer, elements: Int,
        into output: UnsafeMutableBufferPointer<Float>
    ) throws {
        guard let decode = blockDecoder(type) else { throw TensorError.unsupportedType(type) }
        guard elements >= 0, let needed = type.byteCount(elements: elements) else {
            throw TensorError.notBlockAligned(type: type, elements: elements)
        }
        guard bytes.count >= needed else { throw TensorError.bufferTooSmall(type: type, needed: needed, available: bytes.count) }
        guard output.count >= elements else {
            throw TensorError.bufferTooSmall(type: .f32, needed: elements * 4, available: output.count * 4)
        }
        guard elements > 0, let src = bytes.baseAddress, let dst = output.baseAddress else { return }
        let blocks = elements / type.blockSize
        let blockSize = type.blockSize, typeSize = type.typeSize
        if type == .f32 {
            copyBytes(UnsafeMutableRawPointer(dst), src, count: elements * 4)  // little-endian hosts only
            return
        }
        let chunk = 4096
        let chunks = (blocks + chunk - 1) / chunk
        let work = { (c: Int) in
            let start = c * chunk, end = min(blocks, start + chunk)
            for i in start..<end { decode(src + i * typeSize, dst + i * blockSize) }
        }
        if chunks > 1 { DispatchQueue.concurrentPerform(iterations: chunks, execute: work) } else { work(0) }
    }

    /// Decodes into a new array.
    public static func toFloats(type: GGMLType, from bytes: UnsafeRawBufferPointer, elements: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: elements)
        try out.withUnsafeMutableBufferPointer { try rows(type: type, from: bytes, elements: elements, into: $0) }
        return out
    }
}

/// Copies bytes through a real call. Swift 6.3.1's LLVM lowers a memcpy/memmove intrinsic in tail
/// position of a throwing function to a tail jump without restoring the error register (r12 on
/// x86-64), so the caller sees a garbage error. Throwing functions copy through this function;
/// `scripts/check-tail-calls.sh` scans the release binaries for the pattern.
@inline(never)
public func copyBytes(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, count: Int) {
    destination.copyMemory(from: source, byteCount: count)
}
