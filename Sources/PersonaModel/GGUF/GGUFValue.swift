// GGUF metadata values (gguf.md, "Standardized key-value pairs" / gguf_metadata_value_type).
// Strings are kept as raw bytes: GGUF promises UTF-8, but token strings must be keyed by bytes.

/// The on-disk value type codes.
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Smallest number of bytes one value of this type takes in the file.
    var minimumSize: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }
}

/// A typed array: homogeneous, as GGUF arrays are.
public indirect enum GGUFArray: Equatable, Sendable {
    case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16])
    case uint32([UInt32]), int32([Int32]), float32([Float]), bool([Bool])
    case string([[UInt8]]), uint64([UInt64]), int64([Int64]), float64([Double])
    case array([GGUFArray])

    public var count: Int {
        switch self {
        case .uint8(let a): return a.count
        case .int8(let a): return a.count
        case .uint16(let a): return a.count
        case .int16(let a): return a.count
        case .uint32(let a): return a.count
        case .int32(let a): return a.count
        case .float32(let a): return a.count
        case .bool(let a): return a.count
        case .string(let a): return a.count
        case .uint64(let a): return a.count
        case .int64(let a): return a.count
        case .float64(let a): return a.count
        case .array(let a): return a.count
        }
    }

    /// The element type's name, e.g. `[string]`.
    public var typeName: String {
        switch self {
        case .uint8: return "[uint8]"
        case .int8: return "[int8]"
        case .uint16: return "[uint16]"
        case .int16: return "[int16]"
        case .uint32: return "[uint32]"
        case .int32: return "[int32]"
        case .float32: return "[float32]"
        case .bool: return "[bool]"
        case .string: return "[string]"
        case .uint64: return "[uint64]"
        case .int64: return "[int64]"
        case .float64: return "[float64]"
        case .array: return "[array]"
        }
    }

    /// The elements as integers when the element type is an integer type.
    public var integers: [Int]? {
        switch self {
        case .uint8(let a): return a.map { Int($0) }
        case .int8(let a): return a.map { Int($0) }
        case .uint16(let a): return a.map { Int($0) }
        case .int16(let a): return a.map { Int($0) }
        case .uint32(let a): return a.map { Int($0) }
        case .int32(let a): return a.map { Int($0) }
        case .uint64(let a): return a.allSatisfy({ $0 <= UInt64(Int.max) }) ? a.map { Int($0) } : nil
        case .int64(let a): return a.map { Int($0) }
        default: return nil
        }
    }
}

/// One metadata value.
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), float32(Float), bool(Bool)
    case string([UInt8]), uint64(UInt64), int64(Int64), float64(Double)
    case array(GGUFArray)

    public var typeName: String {
        switch self {
        case .uint8: return "uint8"
        case .int8: return "int8"
        case .uint16: return "uint16"
        case .int16: return "int16"
        case .uint32: return "uint32"
        case .int32: return "int32"
        case .float32: return "float32"
        case .bool: return "bool"
        case .string: return "string"
        case .uint64: return "uint64"
        case .int64: return "int64"
        case .float64: return "float64"
        case .array(let a): return a.typeName
        }
    }

    /// The value as an integer, for any integer type that fits in Int.
    public var integer: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// The value as a floating-point number, for float and integer types.
    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return integer.map(Double.init)
        }
    }

    /// The value as a String when it is a valid UTF-8 string.
    public var string: String? {
        if case .string(let bytes) = self { return String(validating: bytes, as: UTF8.self) }
        return nil
    }

    /// A short human-readable rendering (arrays abbreviated).
    public var summary: String {
        switch self {
        case .string(let b): return String(decoding: b, as: UTF8.self)
        case .bool(let v): return String(v)
        case .float32(let v): return String(v)
        case .float64(let v): return String(v)
        case .array(let a): return "\(a.typeName) × \(a.count)"
        default: return integer.map(String.init) ?? "?"
        }
    }
}
