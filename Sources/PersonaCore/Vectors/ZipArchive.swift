// A hostile-input-safe reader of the ZIP container of PyTorch's `torch.save` archives (PKWARE
// APPNOTE.TXT 6.3: end of central directory record, central directory file headers, local file
// headers). Stored entries (method 0, what PyTorch writes) and deflated ones (method 8, inflated by
// zlib); other methods are a clear error. ZIP64 archives (> 4 GiB, never a vector file) are
// refused. Every offset and length is checked against the bytes present, and each entry's CRC-32
// (zlib's) is verified.
//
// Why the container is read here and not by ZIPFoundation 0.9.20: on hostile input it traps, which
// a file from outside must never do: one flipped byte of this suite's torch.save fixture stops the
// process in `Archive.MemoryFile.readData(buffer:)` ("Range requires lowerBound <= upperBound",
// Archive+MemoryFile.swift:59; VectorInteropTests.testMutatedFixturesNeverCrash), and an archive it
// fails to open leaks its in-memory copy (LeakSanitizer under Fuzz/TorchFuzz, after 19 inputs).
// compress-nio inflates a NIO ByteBuffer and reads no ZIP: it would add swift-nio to the engine
// core for a wrapper of the same zlib calls made below.
import CZlib
import Foundation

public enum ZipError: Error, CustomStringConvertible, Equatable {
    case notAZip(path: String, reason: String)
    case truncated(path: String, field: String, offset: Int, needed: Int, available: Int)
    case badSignature(path: String, field: String, offset: Int, found: UInt32)
    case unsupportedCompression(path: String, entry: String, method: Int)
    case zip64(path: String)
    case encrypted(path: String, entry: String)
    case sizeMismatch(path: String, entry: String, central: Int, local: Int)
    case crcMismatch(path: String, entry: String, expected: UInt32, found: UInt32)
    case badDeflate(path: String, entry: String, reason: String)
    case entryTooLarge(path: String, entry: String, size: Int, maximum: Int)
    case tooManyEntries(path: String, count: Int, maximum: Int)
    case missingEntry(path: String, name: String)

    public var description: String {
        switch self {
        case let .notAZip(path, reason): return "\(path): not a ZIP archive (\(reason))"
        case let .truncated(path, field, offset, needed, available):
            return "\(path): truncated ZIP archive: \(field) at offset \(offset) needs \(needed) bytes, \(available) remain"
        case let .badSignature(path, field, offset, found):
            return "\(path): bad ZIP \(field) signature 0x\(String(found, radix: 16)) at offset \(offset)"
        case let .unsupportedCompression(path, entry, method):
            return "\(path): entry \"\(entry)\" uses compression method \(method); only stored (0, as torch.save writes) and deflated (8) entries are supported"
        case let .zip64(path): return "\(path): ZIP64 archives are not supported"
        case let .encrypted(path, entry): return "\(path): entry \"\(entry)\" is encrypted"
        case let .sizeMismatch(path, entry, central, local):
            return "\(path): entry \"\(entry)\": declared size \(central) differs from the \(local) bytes it holds"
        case let .crcMismatch(path, entry, expected, found):
            return "\(path): entry \"\(entry)\": CRC-32 0x\(String(found, radix: 16)) does not match 0x\(String(expected, radix: 16)) (corrupt file)"
        case let .badDeflate(path, entry, reason): return "\(path): entry \"\(entry)\": corrupt deflate data (\(reason))"
        case let .entryTooLarge(path, entry, size, maximum): return "\(path): entry \"\(entry)\" is \(size) bytes uncompressed (at most \(maximum) accepted)"
        case let .tooManyEntries(path, count, maximum): return "\(path): \(count) ZIP entries (at most \(maximum) accepted)"
        case let .missingEntry(path, name): return "\(path): the archive has no entry \"\(name)\""
        }
    }
}

/// A ZIP archive held in memory.
public struct ZipArchive {
    public struct Entry: Equatable {
        public let name: String
        public let method: Int
        public let crc32: UInt32
        public let compressedSize: Int
        public let uncompressedSize: Int
        public let localHeaderOffset: Int
        public let flags: Int
    }

    public static let maximumEntries = 10_000
    /// The largest entry accepted uncompressed (bounds memory on hostile input).
    public static let maximumEntrySize = 1 << 31
    public let path: String
    public let entries: [Entry]
    private let bytes: [UInt8]

    /// Parses the central directory of `data`; `path` names the file in errors.
    public init(data: Data, path: String) throws {
        self.path = path
        self.bytes = [UInt8](data)
        let b = bytes
        // End of central directory: 22 bytes plus a comment of up to 65535 bytes, found from the end.
        guard b.count >= 22 else { throw ZipError.notAZip(path: path, reason: "\(b.count) bytes, shorter than an end-of-central-directory record") }
        var eocd = -1
        var i = b.count - 22
        let lowest = max(0, b.count - 22 - 65_535)
        while i >= lowest {
            if b[i] == 0x50 && b[i + 1] == 0x4b && b[i + 2] == 0x05 && b[i + 3] == 0x06 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else {
            throw ZipError.notAZip(path: path, reason: "no end-of-central-directory record (a truncated or non-ZIP file)")
        }
        let r = ByteReader(bytes: b, path: path)
        let entryCount = Int(try r.u16(at: eocd + 10, "end of central directory: entry count"))
        let directorySize = Int(try r.u32(at: eocd + 12, "end of central directory: size"))
        let directoryOffset = Int(try r.u32(at: eocd + 16, "end of central directory: offset"))
        if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF { throw ZipError.zip64(path: path) }
        guard entryCount <= ZipArchive.maximumEntries else {
            throw ZipError.tooManyEntries(path: path, count: entryCount, maximum: ZipArchive.maximumEntries)
        }
        guard directoryOffset <= eocd, directorySize <= eocd - directoryOffset else {
            throw ZipError.truncated(
                path: path, field: "central directory", offset: directoryOffset, needed: directorySize, available: max(0, eocd - directoryOffset))
        }
        var entries: [Entry] = []
        var at = directoryOffset
        for index in 0..<entryCount {
            let field = "central directory entry \(index)"
            let signature = try r.u32(at: at, field)
            guard signature == 0x0201_4b50 else { throw ZipError.badSignature(path: path, field: field, offset: at, found: signature) }
            let flags = Int(try r.u16(at: at + 8, field))
            let method = Int(try r.u16(at: at + 10, field))
            let crc = try r.u32(at: at + 16, field)
            let compressed = Int(try r.u32(at: at + 20, field))
            let uncompressed = Int(try r.u32(at: at + 24, field))
            let nameLength = Int(try r.u16(at: at + 28, field))
            let extraLength = Int(try r.u16(at: at + 30, field))
            let commentLength = Int(try r.u16(at: at + 32, field))
            let localOffset = Int(try r.u32(at: at + 42, field))
            let nameBytes = try r.slice(at: at + 46, count: nameLength, "\(field) name")
            let name = String(decoding: nameBytes, as: UTF8.self)
            if compressed == 0xFFFF_FFFF || uncompressed == 0xFFFF_FFFF || localOffset == 0xFFFF_FFFF { throw ZipError.zip64(path: path) }
            entries.append(
                Entry(
                    name: name, method: method, crc32: crc, compressedSize: compressed,
                    uncompressedSize: uncompressed, localHeaderOffset: localOffset, flags: flags))
            at += 46 + nameLength + extraLength + commentLength
        }
        self.entries = entries
    }

    /// Reads and parses the file at `path`.
    public init(path: String) throws {
        try self.init(data: try Data(contentsOf: URL(fileURLWithPath: path)), path: path)
    }

    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// The bytes of an entry, CRC-checked.
    public func data(of entry: Entry) throws -> [UInt8] {
        guard entry.flags & 1 == 0 else { throw ZipError.encrypted(path: path, entry: entry.name) }
        guard entry.method == 0 || entry.method == 8 else { throw ZipError.unsupportedCompression(path: path, entry: entry.name, method: entry.method) }
        guard entry.uncompressedSize <= ZipArchive.maximumEntrySize else {
            throw ZipError.entryTooLarge(path: path, entry: entry.name, size: entry.uncompressedSize, maximum: ZipArchive.maximumEntrySize)
        }
        let r = ByteReader(bytes: bytes, path: path)
        let field = "local header of \"\(entry.name)\""
        let at = entry.localHeaderOffset
        let signature = try r.u32(at: at, field)
        guard signature == 0x0403_4b50 else { throw ZipError.badSignature(path: path, field: field, offset: at, found: signature) }
        let nameLength = Int(try r.u16(at: at + 26, field))
        let extraLength = Int(try r.u16(at: at + 28, field))
        let start = at + 30 + nameLength + extraLength
        let stored = try r.slice(at: start, count: entry.compressedSize, "data of \"\(entry.name)\"")
        var data = Array(stored)
        if entry.method == 8 {
            do { data = try ZipArchive.inflate(stored, size: entry.uncompressedSize) } catch {
                throw ZipError.badDeflate(path: path, entry: entry.name, reason: "\(error)")
            }
        }
        guard data.count == entry.uncompressedSize else {
            throw ZipError.sizeMismatch(path: path, entry: entry.name, central: entry.uncompressedSize, local: data.count)
        }
        let crc = ZipArchive.crc32(data)
        guard crc == entry.crc32 else { throw ZipError.crcMismatch(path: path, entry: entry.name, expected: entry.crc32, found: crc) }
        return data
    }

    /// The bytes of the entry named `name`.
    public func data(named name: String) throws -> [UInt8] {
        guard let e = entry(named: name) else { throw ZipError.missingEntry(path: path, name: name) }
        return try data(of: e)
    }

    /// Inflates a raw DEFLATE stream with zlib into exactly `size` bytes: a stream that ends early,
    /// writes more, or is corrupt is an error. DEFLATE expands at most 1032:1, so a larger declared
    /// size is refused before any memory is reserved for it.
    static func inflate(_ compressed: ArraySlice<UInt8>, size: Int) throws -> [UInt8] {
        guard size / 1032 <= compressed.count else {
            throw InflateFailure(reason: "\(compressed.count) compressed bytes cannot inflate to the declared \(size)")
        }
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw InflateFailure(reason: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        // One spare byte: a stream that writes into it inflates past the declared size.
        var output = [UInt8](repeating: 0, count: size + 1)
        var input = Array(compressed)
        let result = input.withUnsafeMutableBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer -> Int32 in
                stream.next_in = inputBuffer.baseAddress
                stream.avail_in = UInt32(inputBuffer.count)
                stream.next_out = outputBuffer.baseAddress
                stream.avail_out = UInt32(outputBuffer.count)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        let written = Int(stream.total_out)
        if written > size { throw InflateFailure(reason: "the stream inflates past the declared \(size) bytes") }
        switch result {
        case Z_STREAM_END where written == size: return Array(output.prefix(size))
        case Z_STREAM_END: throw InflateFailure(reason: "the stream ends after \(written) of the declared \(size) bytes")
        case Z_DATA_ERROR: throw InflateFailure(reason: stream.msg.map { String(cString: $0) } ?? "invalid data")
        default: throw InflateFailure(reason: "the stream is cut short after \(written) of \(size) bytes (zlib \(result))")
        }
    }

    struct InflateFailure: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }

    /// CRC-32 (ISO 3309, as ZIP uses), zlib's.
    public static func crc32<C: Collection>(_ data: C) -> UInt32 where C.Element == UInt8 {
        let bytes = Array(data)
        return bytes.withUnsafeBufferPointer { UInt32(CZlib.crc32(0, $0.baseAddress, UInt32($0.count))) }
    }
}

/// Bounds-checked little-endian reads from a byte array.
struct ByteReader {
    let bytes: [UInt8]
    let path: String

    func slice(at offset: Int, count: Int, _ field: String) throws -> ArraySlice<UInt8> {
        guard offset >= 0, count >= 0, offset <= bytes.count, count <= bytes.count - offset else {
            throw ZipError.truncated(path: path, field: field, offset: offset, needed: count, available: max(0, bytes.count - max(offset, 0)))
        }
        return bytes[offset..<(offset + count)]
    }

    func u16(at offset: Int, _ field: String) throws -> UInt16 {
        let s = try slice(at: offset, count: 2, field)
        return UInt16(s[s.startIndex]) | UInt16(s[s.startIndex + 1]) << 8
    }

    func u32(at offset: Int, _ field: String) throws -> UInt32 {
        let s = try slice(at: offset, count: 4, field)
        var v: UInt32 = 0
        for k in 0..<4 { v |= UInt32(s[s.startIndex + k]) << (8 * k) }
        return v
    }
}
