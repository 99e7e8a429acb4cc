// A bounds-checked little-endian reader over the bytes of a GGUF file. Every read knows how many
// bytes remain and throws `GGUFError.truncated` naming the field it was reading.

struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    private(set) var offset: Int = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - offset }

    mutating func require(_ count: Int, _ field: @autoclosure () -> String) throws {
        guard count >= 0, count <= remaining else {
            throw GGUFError.truncated(path: path, field: field(), offset: offset, needed: count, available: remaining)
        }
    }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ field: @autoclosure () -> String) throws -> T {
        let size = MemoryLayout<T>.size
        try require(size, field())
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(littleEndian: value)
    }

    mutating func readFloat(_ field: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, field()))
    }

    mutating func readDouble(_ field: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, field()))
    }

    /// A GGUF string: uint64 length, then that many bytes.
    mutating func readStringBytes(_ field: @autoclosure () -> String) throws -> [UInt8] {
        let length = try read(UInt64.self, field())
        guard length <= UInt64(remaining) else {
            throw GGUFError.stringTooLong(path: path, field: field(), length: length, available: remaining)
        }
        let count = Int(length)
        let start = offset
        offset += count
        return Array(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + count)]))
    }

    /// A GGUF string that must be valid UTF-8 (keys, tensor names).
    mutating func readString(_ field: @autoclosure () -> String) throws -> String {
        let raw = try readStringBytes(field())
        guard let s = String(validating: raw, as: UTF8.self) else {
            throw GGUFError.invalidUTF8(path: path, field: field())
        }
        return s
    }

    /// A count read as uint64, checked against what the remaining bytes could hold given each
    /// element takes at least `minimumElementSize` bytes.
    mutating func readCount(_ field: @autoclosure () -> String, minimumElementSize: Int) throws -> Int {
        let count = try read(UInt64.self, field())
        let maximum = remaining / max(minimumElementSize, 1)
        guard count <= UInt64(maximum) else {
            throw GGUFError.countTooLarge(path: path, field: field(), count: count, maximum: maximum)
        }
        return Int(count)
    }

    mutating func skip(to newOffset: Int, _ field: @autoclosure () -> String) throws {
        try require(newOffset - offset, field())
        offset = newOffset
    }
}
