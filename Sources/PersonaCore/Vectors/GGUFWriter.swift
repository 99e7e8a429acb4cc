// Writes GGUF v3 files with string/integer metadata and float32 tensors, following ggml's
// docs/gguf.md: magic "GGUF", uint32 version 3, uint64 tensor count, uint64 metadata count, the
// key/value pairs, the tensor infos (name, n_dims, dims in ggml order — dims[0] contiguous —,
// type, offset relative to the data section), padding to the alignment (32), then the data, each
// tensor starting at a multiple of the alignment and padded to one (ggml's reader expects the data
// section to be the sum of padded sizes). Little-endian hosts only, as everything in Persona.
import Foundation

public enum GGUFWriter {
    public static let alignment = 32

    /// One metadata value (the types a control vector needs).
    public enum Value {
        case string(String)
        case uint32(UInt32)
        case int32(Int32)
        case float32(Float)
        case bool(Bool)
    }

    /// One float32 tensor; `shape` in row-major order (outermost first), as PyTorch prints it.
    public struct Tensor {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        public init(name: String, shape: [Int], values: [Float]) { self.name = name; self.shape = shape; self.values = values }
    }

    /// The bytes of a GGUF file.
    public static func encode(metadata: [(String, Value)], tensors: [Tensor]) throws -> Data {
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { let b = Array(s.utf8); u64(UInt64(b.count)); out.append(contentsOf: b) }
        func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

        out.append(contentsOf: Array("GGUF".utf8))
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, value) in metadata {
            string(key)
            switch value {
            case .string(let s): u32(8); string(s)
            case .uint32(let v): u32(4); u32(v)
            case .int32(let v): u32(5); u32(UInt32(bitPattern: v))
            case .float32(let v): u32(6); u32(v.bitPattern)
            case .bool(let v): u32(7); out.append(v ? 1 : 0)
            }
        }
        var offset = 0
        for t in tensors {
            guard !t.shape.isEmpty, t.shape.count <= 4, t.shape.allSatisfy({ $0 > 0 }), t.shape.reduce(1, *) == t.values.count else {
                throw VectorExportError.badTensor(name: t.name, reason: "shape \(t.shape) does not hold \(t.values.count) values")
            }
            string(t.name)
            u32(UInt32(t.shape.count))
            for d in t.shape.reversed() { u64(UInt64(d)) }  // ggml order: innermost first
            u32(0)  // GGML_TYPE_F32
            u64(UInt64(offset))
            offset += padded(t.values.count * 4)
        }
        out.append(contentsOf: [UInt8](repeating: 0, count: padded(out.count) - out.count))
        for t in tensors {
            t.values.withUnsafeBufferPointer { out.append(contentsOf: UnsafeRawBufferPointer($0)) }
            let size = t.values.count * 4
            out.append(contentsOf: [UInt8](repeating: 0, count: padded(size) - size))
        }
        return out
    }
}
