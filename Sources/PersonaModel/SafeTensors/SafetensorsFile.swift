// safetensors reader, following the format's specification (huggingface/safetensors README):
// uint64 little-endian header length N, N bytes of UTF-8 JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {str: str}},
// then the data; offsets are relative to the end of the header. Nothing in the header is trusted.
import Foundation
import PersonaTensor

/// One tensor in a safetensors file.
public struct SafetensorsTensorInfo: Equatable, Sendable {
    public let name: String
    /// The dtype as written (`F32`, `F16`, `BF16`).
    public let dtype: String
    /// Row-major shape (outermost first).
    public let shape: [Int]
    /// Offset from the start of the data section.
    public let begin: Int
    public let byteCount: Int

    public var elementCount: Int { shape.reduce(1, *) }
    /// The element type as a ggml type (all supported dtypes have one).
    public var type: GGMLType {
        switch dtype {
        case "F16": return .f16
        case "BF16": return .bf16
        default: return .f32
        }
    }
}

/// A parsed, validated safetensors file (memory-mapped).
public final class SafetensorsFile: @unchecked Sendable {
    public static let maximumHeaderSize = 100 << 20
    static let elementSizes: [String: Int] = ["F32": 4, "F16": 2, "BF16": 2]

    public let path: String
    public let tensors: [SafetensorsTensorInfo]
    public let metadata: [String: String]
    public let dataOffset: Int
    private let index: [String: Int]
    private let storage: FileBytes

    public convenience init(path: String) throws {
        try self.init(bytes: FileBytes(mapping: path))
    }

    public init(bytes storage: FileBytes) throws {
        self.storage = storage
        let path = storage.path
        self.path = path
        let bytes = storage.bytes
        guard bytes.count >= 8 else { throw SafetensorsError.truncated(path: path, needed: 8, available: bytes.count) }
        let headerSize = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerSize <= UInt64(min(bytes.count - 8, SafetensorsFile.maximumHeaderSize)) else {
            throw SafetensorsError.headerTooLarge(path: path, size: headerSize, maximum: min(bytes.count - 8, SafetensorsFile.maximumHeaderSize))
        }
        let headerEnd = 8 + Int(headerSize)
        self.dataOffset = headerEnd
        let dataSize = bytes.count - headerEnd
        let headerData = Data(UnsafeRawBufferPointer(rebasing: bytes[8..<headerEnd]))
        guard String(data: headerData, encoding: .utf8) != nil else {
            throw SafetensorsError.badHeader(path: path, reason: "header is not valid UTF-8")
        }
        let object: JSONValue
        do { object = try JSONValue.parse(headerData) } catch {
            throw SafetensorsError.badHeader(path: path, reason: "header is not valid JSON (\(error))")
        }
        guard let header = object.object else {
            throw SafetensorsError.badHeader(path: path, reason: "header is not a JSON object")
        }

        var metadata: [String: String] = [:]
        var infos: [SafetensorsTensorInfo] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let dict = value.object else {
                    throw SafetensorsError.badHeader(path: path, reason: "__metadata__ is not an object")
                }
                for (k, v) in dict {
                    guard let s = v.string else {
                        throw SafetensorsError.badHeader(path: path, reason: "__metadata__.\(k) is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            guard let entry = value.object else {
                throw SafetensorsError.badTensorEntry(path: path, tensor: name, field: "(entry)", reason: "not an object")
            }
            guard let dtype = entry["dtype"]?.string else {
                throw SafetensorsError.badTensorEntry(path: path, tensor: name, field: "dtype", reason: "missing or not a string")
            }
            guard let elementSize = SafetensorsFile.elementSizes[dtype] else {
                throw SafetensorsError.unsupportedDType(path: path, tensor: name, dtype: dtype)
            }
            let shape = try SafetensorsFile.integers(entry["shape"], path: path, tensor: name, field: "shape")
            let offsets = try SafetensorsFile.integers(entry["data_offsets"], path: path, tensor: name, field: "data_offsets")
            guard offsets.count == 2 else {
                throw SafetensorsError.badTensorEntry(path: path, tensor: name, field: "data_offsets", reason: "expected [begin, end], found \(offsets)")
            }
            guard shape.count <= 8 else {
                throw SafetensorsError.badTensorEntry(path: path, tensor: name, field: "shape", reason: "\(shape.count) dimensions (at most 8)")
            }
            var expected = elementSize
            for d in shape {
                let (p, overflow) = expected.multipliedReportingOverflow(by: d)
                guard !overflow else {
                    throw SafetensorsError.badTensorEntry(path: path, tensor: name, field: "shape", reason: "\(shape) overflows the element count")
                }
                expected = p
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end, end <= dataSize else {
                throw SafetensorsError.tensorOutsideData(path: path, tensor: name, begin: begin, end: end, dataSize: dataSize)
            }
            guard end - begin == expected else {
                throw SafetensorsError.sizeMismatch(path: path, tensor: name, shape: shape, dtype: dtype, expectedBytes: expected, foundBytes: end - begin)
            }
            infos.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, begin: begin, byteCount: expected))
        }
        infos.sort { $0.begin < $1.begin || ($0.begin == $1.begin && $0.name < $1.name) }
        for (a, b) in zip(infos, infos.dropFirst()) where a.begin + a.byteCount > b.begin && a.byteCount > 0 && b.byteCount > 0 {
            throw SafetensorsError.overlappingTensors(path: path, first: a.name, second: b.name)
        }
        self.tensors = infos
        self.metadata = metadata
        var index: [String: Int] = [:]
        for (i, t) in infos.enumerated() { index[t.name] = i }
        self.index = index
    }

    /// Non-negative integers from a JSON array, or an error naming the field.
    private static func integers(_ raw: JSONValue?, path: String, tensor: String, field: String) throws -> [Int] {
        guard let array = raw?.array else {
            throw SafetensorsError.badTensorEntry(path: path, tensor: tensor, field: field, reason: "missing or not an array")
        }
        return try array.map { item in
            guard case .int(let n) = item, n >= 0, n < 1 << 53 else {
                throw SafetensorsError.badTensorEntry(path: path, tensor: tensor, field: field, reason: "\(item.summary) is not a non-negative integer")
            }
            return Int(n)
        }
    }

    public func tensor(named name: String) -> SafetensorsTensorInfo? { index[name].map { tensors[$0] } }

    /// The raw bytes of a tensor (valid while this object lives).
    public func data(of tensor: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        let start = dataOffset + tensor.begin
        return UnsafeRawBufferPointer(rebasing: storage.bytes[start..<(start + tensor.byteCount)])
    }
}
