// Builds GGUF bytes in tests: valid files of any shape, and deliberately corrupt ones.
import Foundation
import PersonaModel
import PersonaTensor

public struct GGUFBuilder {
    public enum Value {
        case u8(UInt8), i8(Int8), u16(UInt16), i16(Int16), u32(UInt32), i32(Int32), f32(Float), bool(Bool)
        case string(String), rawString([UInt8]), u64(UInt64), i64(Int64), f64(Double)
        case array(elementType: UInt32, [Value])
    }
    public struct Tensor {
        public var name: String
        public var dims: [UInt64]
        public var type: UInt32
        public var offset: UInt64? = nil  // nil: laid out one after another
        public var rawName: [UInt8]? = nil
        public var data: [UInt8]? = nil  // the tensor's bytes; nil: a filler pattern
        public init(name: String, dims: [UInt64], type: UInt32, offset: UInt64? = nil, rawName: [UInt8]? = nil, data: [UInt8]? = nil) {
            self.name = name; self.dims = dims; self.type = type; self.offset = offset; self.rawName = rawName; self.data = data
        }
    }

    public var magic: [UInt8] = Array("GGUF".utf8)
    public var version: UInt32 = 3
    public var metadata: [(key: [UInt8], value: Value)] = []
    public var tensors: [Tensor] = []
    public var tensorCountOverride: UInt64? = nil
    public var alignment = 32
    public var dataSizeOverride: Int? = nil

    public init() {}

    public mutating func add(_ key: String, _ value: Value) { metadata.append((Array(key.utf8), value)) }

    private static func typeCode(_ v: Value) -> UInt32 {
        switch v {
        case .u8: return 0
        case .i8: return 1
        case .u16: return 2
        case .i16: return 3
        case .u32: return 4
        case .i32: return 5
        case .f32: return 6
        case .bool: return 7
        case .string, .rawString: return 8
        case .array: return 9
        case .u64: return 10
        case .i64: return 11
        case .f64: return 12
        }
    }

    private static func append<T: FixedWidthInteger>(_ x: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func appendString(_ bytes: [UInt8], to out: inout [UInt8]) {
        append(UInt64(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    private static func appendValue(_ v: Value, to out: inout [UInt8]) {
        switch v {
        case .u8(let x): append(x, to: &out)
        case .i8(let x): append(x, to: &out)
        case .u16(let x): append(x, to: &out)
        case .i16(let x): append(x, to: &out)
        case .u32(let x): append(x, to: &out)
        case .i32(let x): append(x, to: &out)
        case .f32(let x): append(x.bitPattern, to: &out)
        case .bool(let x): out.append(x ? 1 : 0)
        case .string(let s): appendString(Array(s.utf8), to: &out)
        case .rawString(let b): appendString(b, to: &out)
        case .u64(let x): append(x, to: &out)
        case .i64(let x): append(x, to: &out)
        case .f64(let x): append(x.bitPattern, to: &out)
        case .array(let elementType, let items):
            append(elementType, to: &out)
            append(UInt64(items.count), to: &out)
            for item in items { appendValue(item, to: &out) }
        }
    }

    /// The byte size of a tensor's data as the reader will compute it.
    public static func byteCount(_ t: Tensor) -> Int {
        guard let type = GGMLType(rawValue: t.type) else { return 0 }
        let n = t.dims.reduce(1) { $0 &* Int(truncatingIfNeeded: $1) }
        return type.byteCount(elements: n) ?? 0
    }

    public func build() -> [UInt8] {
        var out = magic
        Self.append(version, to: &out)
        Self.append(tensorCountOverride ?? UInt64(tensors.count), to: &out)
        Self.append(UInt64(metadata.count), to: &out)
        for (key, value) in metadata {
            Self.appendString(key, to: &out)
            Self.append(Self.typeCode(value), to: &out)
            Self.appendValue(value, to: &out)
        }
        var next: UInt64 = 0
        var dataEnd = 0
        var placed: [(Int, [UInt8])] = []
        for t in tensors {
            Self.appendString(t.rawName ?? Array(t.name.utf8), to: &out)
            Self.append(UInt32(t.dims.count), to: &out)
            for d in t.dims { Self.append(d, to: &out) }
            Self.append(t.type, to: &out)
            let offset = t.offset ?? next
            Self.append(offset, to: &out)
            let size = Self.byteCount(t)
            if let d = t.data { placed.append((Int(offset), d)) }
            dataEnd = max(dataEnd, Int(offset) + size)
            next = UInt64((Int(offset) + size + alignment - 1) / alignment * alignment)
        }
        while out.count % alignment != 0 { out.append(0) }
        let dataSize = dataSizeOverride ?? dataEnd
        let dataStart = out.count
        for i in 0..<dataSize { out.append(UInt8(truncatingIfNeeded: i &* 31 &+ 7)) }
        for (offset, bytes) in placed where dataStart + offset + bytes.count <= out.count {
            out.replaceSubrange((dataStart + offset)..<(dataStart + offset + bytes.count), with: bytes)
        }
        return out
    }

    public func parse() throws -> GGUFFile {
        try GGUFFile(bytes: FileBytes(data: Data(build()), label: "test.gguf"))
    }

    /// A float32 tensor with the given ggml dims (row length first) and values.
    public static func f32(_ name: String, dims: [Int], values: [Float]) -> Tensor {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return Tensor(name: name, dims: dims.map { UInt64($0) }, type: 0, data: bytes)
    }

    /// A small valid llama-like file: two F32 tensors.
    public static func small() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.add("general.architecture", .string("llama"))
        b.add("llama.block_count", .u32(1))
        b.tensors = [Tensor(name: "a", dims: [8, 2], type: 0), Tensor(name: "b", dims: [32], type: 8)]
        return b
    }
}
