// GGUF reader, following ggml's docs/gguf.md (versions 2 and 3; little-endian files only).
//
// Layout: magic "GGUF", uint32 version, uint64 tensor count, uint64 metadata count, the metadata
// key/value pairs, the tensor infos (name, dims, type, offset relative to the data section), then
// padding to `general.alignment` (default 32) and the data section.
//
// The file is memory-mapped and never trusted: counts, lengths and offsets are checked against the
// bytes that remain, tensors must lie inside the data section, be aligned, and not overlap.
import PersonaTensor

/// Where one tensor lives in a GGUF file.
public struct GGUFTensorInfo: Equatable, Sendable {
    public let name: String
    /// ggml order: `dimensions[0]` is the row length (contiguous), as stored in the file.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Offset from the start of the data section.
    public let offset: Int
    public let byteCount: Int

    public var elementCount: Int { dimensions.reduce(1, *) }
    /// The shape in row-major order (outermost first), as PyTorch would print it.
    public var shape: [Int] { dimensions.reversed() }
}

/// A parsed, validated GGUF file.
public final class GGUFFile: @unchecked Sendable {
    public static let defaultAlignment = 32
    static let maximumArrayNesting = 8

    public let path: String
    public let version: UInt32
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Byte offset of the data section in the file.
    public let dataOffset: Int
    private let tensorIndex: [String: Int]
    private let storage: FileBytes

    /// Maps and parses the file at `path`.
    public convenience init(path: String) throws {
        try self.init(bytes: FileBytes(mapping: path))
    }

    /// Parses GGUF bytes (a mapped file or an in-memory buffer).
    public init(bytes storage: FileBytes) throws {
        self.storage = storage
        let path = storage.path
        self.path = path
        var cursor = GGUFCursor(bytes: storage.bytes, path: path)

        // Header.
        try cursor.require(4, "magic")
        let magic = Array(storage.bytes[0..<4])
        guard magic == Array("GGUF".utf8) else { throw GGUFError.badMagic(path: path, found: magic) }
        _ = try cursor.read(UInt32.self, "magic")
        let version = try cursor.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(path: path, version: version) }
        self.version = version
        // Minimum sizes: a tensor info is ≥ 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset);
        // a metadata pair is ≥ 8 (key length) + 4 (type) + 1 (value).
        let tensorCountRaw = try cursor.read(UInt64.self, "tensor_count")
        let metadataCount = try cursor.readCount("metadata_kv_count", minimumElementSize: 13)
        let tensorCountMaximum = cursor.remaining / 24
        guard tensorCountRaw <= UInt64(tensorCountMaximum) else {
            throw GGUFError.countTooLarge(path: path, field: "tensor_count", count: tensorCountRaw, maximum: tensorCountMaximum)
        }
        let tensorCount = Int(tensorCountRaw)

        // Metadata.
        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        keys.reserveCapacity(metadataCount)
        for index in 0..<metadataCount {
            let key = try cursor.readString("metadata[\(index)].key")
            let typeCode = try cursor.read(UInt32.self, "metadata \"\(key)\" value type")
            let value = try GGUFFile.readValue(&cursor, typeCode: typeCode, field: key, depth: 0)
            guard metadata[key] == nil else { throw GGUFError.duplicateKey(path: path, key: key) }
            metadata[key] = value
            keys.append(key)
        }
        self.metadataKeys = keys
        self.metadata = metadata

        // Alignment.
        var alignment = GGUFFile.defaultAlignment
        if let value = metadata["general.alignment"] {
            guard case .uint32(let a) = value, a > 0, a.nonzeroBitCount == 1 else {
                throw GGUFError.badAlignment(path: path, value: "\(value.summary) (\(value.typeName))")
            }
            alignment = Int(a)
        }
        self.alignment = alignment

        // Tensor infos.
        struct RawInfo { let name: String; let dims: [Int]; let type: GGMLType; let offset: UInt64; let bytes: Int }
        var raw: [RawInfo] = []
        raw.reserveCapacity(tensorCount)
        var seen = Set<String>()
        for index in 0..<tensorCount {
            let name = try cursor.readString("tensor[\(index)].name")
            guard seen.insert(name).inserted else { throw GGUFError.duplicateTensor(path: path, name: name) }
            let dimCount = try cursor.read(UInt32.self, "tensor \"\(name)\" n_dims")
            guard (1...4).contains(dimCount) else {
                throw GGUFError.badDimensionCount(path: path, tensor: name, count: dimCount)
            }
            var dims: [UInt64] = []
            for d in 0..<Int(dimCount) {
                dims.append(try cursor.read(UInt64.self, "tensor \"\(name)\" dimension \(d)"))
            }
            for (d, value) in dims.enumerated() where value > UInt64(Int32.max) * 64 {
                throw GGUFError.badDimension(path: path, tensor: name, index: d, value: value)
            }
            var elements = 1
            for value in dims {
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(value))
                guard !overflow else { throw GGUFError.shapeOverflow(path: path, tensor: name, shape: dims) }
                elements = product
            }
            let typeCode = try cursor.read(UInt32.self, "tensor \"\(name)\" type")
            guard let type = GGMLType(rawValue: typeCode) else {
                throw GGUFError.unknownTensorType(path: path, tensor: name, type: typeCode)
            }
            let rowLength = Int(dims[0])
            guard rowLength % type.blockSize == 0, let bytes = type.byteCount(elements: elements) else {
                throw GGUFError.notBlockAligned(path: path, tensor: name, type: type.name, rowLength: rowLength, blockSize: type.blockSize)
            }
            let offset = try cursor.read(UInt64.self, "tensor \"\(name)\" offset")
            raw.append(RawInfo(name: name, dims: dims.map { Int($0) }, type: type, offset: offset, bytes: bytes))
        }

        // Data section: starts at the next multiple of the alignment.
        let headerEnd = cursor.offset
        let (padded, overflow) = headerEnd.addingReportingOverflow(alignment - 1)
        guard !overflow else { throw GGUFError.badAlignment(path: path, value: String(alignment)) }
        let dataOffset = padded / alignment * alignment
        self.dataOffset = dataOffset
        let dataSize = max(storage.count - dataOffset, 0)
        if tensorCount > 0 && dataOffset > storage.count {
            throw GGUFError.truncated(
                path: path, field: "data section", offset: headerEnd, needed: dataOffset - headerEnd, available: storage.count - headerEnd)
        }

        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(raw.count)
        for r in raw {
            guard r.offset % UInt64(alignment) == 0 else {
                throw GGUFError.misalignedTensor(path: path, tensor: r.name, offset: r.offset, alignment: alignment)
            }
            guard r.offset <= UInt64(dataSize), r.bytes <= dataSize - Int(r.offset) else {
                throw GGUFError.tensorOutsideData(path: path, tensor: r.name, offset: r.offset, size: r.bytes, dataSize: dataSize)
            }
            infos.append(GGUFTensorInfo(name: r.name, dimensions: r.dims, type: r.type, offset: Int(r.offset), byteCount: r.bytes))
        }
        // No two tensors may share bytes.
        let byOffset = infos.sorted { $0.offset < $1.offset }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.offset + a.byteCount > b.offset && b.byteCount > 0 && a.byteCount > 0 {
            throw GGUFError.overlappingTensors(path: path, first: a.name, second: b.name)
        }
        self.tensors = infos
        var index: [String: Int] = [:]
        for (i, t) in infos.enumerated() { index[t.name] = i }
        self.tensorIndex = index
    }

    private static func readValue(_ cursor: inout GGUFCursor, typeCode: UInt32, field: String, depth: Int) throws -> GGUFValue {
        guard let type = GGUFValueType(rawValue: typeCode) else {
            throw GGUFError.unknownValueType(path: cursor.path, field: field, type: typeCode)
        }
        switch type {
        case .uint8: return .uint8(try cursor.read(UInt8.self, field))
        case .int8: return .int8(try cursor.read(Int8.self, field))
        case .uint16: return .uint16(try cursor.read(UInt16.self, field))
        case .int16: return .int16(try cursor.read(Int16.self, field))
        case .uint32: return .uint32(try cursor.read(UInt32.self, field))
        case .int32: return .int32(try cursor.read(Int32.self, field))
        case .float32: return .float32(try cursor.readFloat(field))
        case .bool:
            let b = try cursor.read(UInt8.self, field)
            return .bool(b != 0)
        case .string: return .string(try cursor.readStringBytes(field))
        case .uint64: return .uint64(try cursor.read(UInt64.self, field))
        case .int64: return .int64(try cursor.read(Int64.self, field))
        case .float64: return .float64(try cursor.readDouble(field))
        case .array: return .array(try readArray(&cursor, field: field, depth: depth + 1))
        }
    }

    private static func readArray(_ cursor: inout GGUFCursor, field: String, depth: Int) throws -> GGUFArray {
        guard depth <= maximumArrayNesting else {
            throw GGUFError.nestingTooDeep(path: cursor.path, field: field, depth: maximumArrayNesting)
        }
        let typeCode = try cursor.read(UInt32.self, "\(field) element type")
        guard let type = GGUFValueType(rawValue: typeCode) else {
            throw GGUFError.unknownValueType(path: cursor.path, field: "\(field) element type", type: typeCode)
        }
        let count = try cursor.readCount("\(field) array length", minimumElementSize: type.minimumSize)
        func many<T>(_ read: (inout GGUFCursor) throws -> T) throws -> [T] {
            var out: [T] = []
            out.reserveCapacity(count)
            for _ in 0..<count { out.append(try read(&cursor)) }
            return out
        }
        switch type {
        case .uint8: return .uint8(try many { try $0.read(UInt8.self, field) })
        case .int8: return .int8(try many { try $0.read(Int8.self, field) })
        case .uint16: return .uint16(try many { try $0.read(UInt16.self, field) })
        case .int16: return .int16(try many { try $0.read(Int16.self, field) })
        case .uint32: return .uint32(try many { try $0.read(UInt32.self, field) })
        case .int32: return .int32(try many { try $0.read(Int32.self, field) })
        case .float32: return .float32(try many { try $0.readFloat(field) })
        case .bool: return .bool(try many { try $0.read(UInt8.self, field) != 0 })
        case .string: return .string(try many { try $0.readStringBytes(field) })
        case .uint64: return .uint64(try many { try $0.read(UInt64.self, field) })
        case .int64: return .int64(try many { try $0.read(Int64.self, field) })
        case .float64: return .float64(try many { try $0.readDouble(field) })
        case .array: return .array(try many { try readArray(&$0, field: field, depth: depth + 1) })
        }
    }

    // MARK: Tensors

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The raw bytes of a tensor (valid while this file object lives).
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = dataOffset + tensor.offset
        return UnsafeRawBufferPointer(rebasing: storage.bytes[start..<(start + tensor.byteCount)])
    }

    /// The total size of the file in bytes.
    public var fileSize: Int { storage.count }

    /// Everything before the data section: header, metadata and tensor table (valid while this
    /// file object lives).
    public var headerBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage.bytes[0..<dataOffset]) }
}
