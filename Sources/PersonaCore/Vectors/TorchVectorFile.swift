// Reads the reference repo's `.pt` persona vectors: `torch.save` of one tensor, float32
// `[numLayers + 1, hidden]` (row 0 = embeddings) or `[hidden]`. Follows torch/serialization.py
// (`_save` / `_load`): a ZIP archive under one folder holding `data.pkl` (a pickle calling
// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`
// whose storage is the persistent id `('storage', torch.FloatStorage, key, location, numel)`),
// `byteorder` and the raw storage `data/<key>`. Nothing in the pickle is executed.
import Foundation
import PersonaTensor

public enum TorchFileError: Error, CustomStringConvertible, Equatable {
    case noPickle(path: String)
    case notATensor(path: String, found: String)
    case unsupportedStorage(path: String, type: String)
    case badTensorField(path: String, field: String, found: String)
    case bigEndian(path: String, byteorder: String)
    case storageSize(path: String, entry: String, expectedBytes: Int, foundBytes: Int)
    case outOfStorage(path: String, shape: [Int], stride: [Int], offset: Int, storageElements: Int)
    case unsupportedRank(path: String, shape: [Int])

    public var description: String {
        switch self {
        case let .noPickle(path): return "\(path): no */data.pkl in the archive: not a torch.save file"
        case let .notATensor(path, found):
            return "\(path): the pickle does not describe one tensor (torch._utils._rebuild_tensor_v2); found \(found.prefix(200))"
        case let .unsupportedStorage(path, type):
            return "\(path): storage type \(type) is not supported (FloatStorage, HalfStorage, BFloat16Storage, DoubleStorage)"
        case let .badTensorField(path, field, found): return "\(path): tensor \(field) is \(found.prefix(200))"
        case let .bigEndian(path, byteorder): return "\(path): byteorder \"\(byteorder)\" is not supported (little-endian files only)"
        case let .storageSize(path, entry, expected, found):
            return "\(path): storage \"\(entry)\" has \(found) bytes, its declared element count needs \(expected)"
        case let .outOfStorage(path, shape, stride, offset, elements):
            return "\(path): tensor shape \(shape), stride \(stride), offset \(offset) reaches outside its storage of \(elements) elements"
        case let .unsupportedRank(path, shape): return "\(path): tensor of shape \(shape): expected [layers + 1, hidden] or [hidden]"
        }
    }
}

/// A tensor read from a `torch.save` file, converted to float32.
public struct TorchTensor: Equatable {
    public var shape: [Int]
    /// Row-major values.
    public var values: [Float]
}

public enum TorchVectorFile {
    /// The largest element count accepted (a vector file is small; this bounds memory on hostile input).
    public static let maximumElements = 1 << 28

    /// Reads the one tensor a `torch.save` file holds.
    public static func readTensor(path: String) throws -> TorchTensor {
        try readTensor(data: try Data(contentsOf: URL(fileURLWithPath: path)), path: path)
    }

    public static func readTensor(data: Data, path: String) throws -> TorchTensor {
        let archive = try ZipArchive(data: data, path: path)
        guard let pickleEntry = archive.entries.first(where: { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }) else {
            throw TorchFileError.noPickle(path: path)
        }
        let prefix = String(pickleEntry.name.dropLast("data.pkl".count))
        if let order = archive.entry(named: prefix + "byteorder") {
            let text = String(decoding: try archive.data(of: order), as: UTF8.self)
            guard text == "little" else { throw TorchFileError.bigEndian(path: path, byteorder: text) }
        }
        let root = try PickleReader.read(try archive.data(of: pickleEntry), path: path + ":" + pickleEntry.name)

        // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, …)
        guard case let .reduce(.global(module, name), .tuple(arguments)) = root,
            module == "torch._utils", name == "_rebuild_tensor_v2" || name == "_rebuild_tensor",
            arguments.count >= 4
        else {
            throw TorchFileError.notATensor(path: path, found: root.description)
        }
        guard case let .persistent(.tuple(pid)) = arguments[0], pid.count == 5,
            case .string("storage") = pid[0], case let .global(storageModule, storageType) = pid[1],
            case let .string(key) = pid[2], case let .int(numel) = pid[4]
        else {
            throw TorchFileError.badTensorField(path: path, field: "storage", found: arguments[0].description)
        }
        guard storageModule == "torch", let elementSize = elementSize(storageType) else {
            throw TorchFileError.unsupportedStorage(path: path, type: "\(storageModule).\(storageType)")
        }
        guard case let .int(offset) = arguments[1], offset >= 0 else {
            throw TorchFileError.badTensorField(path: path, field: "storage offset", found: arguments[1].description)
        }
        let shape = try integers(arguments[2], field: "size", path: path)
        let stride = try integers(arguments[3], field: "stride", path: path)
        guard shape.count == stride.count, shape.allSatisfy({ $0 >= 0 }), stride.allSatisfy({ $0 >= 0 }) else {
            throw TorchFileError.badTensorField(path: path, field: "size/stride", found: "\(shape) / \(stride)")
        }
        guard numel >= 0, numel <= maximumElements else {
            throw TorchFileError.badTensorField(path: path, field: "storage element count", found: String(numel))
        }
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p <= maximumElements else { throw TorchFileError.badTensorField(path: path, field: "size", found: "\(shape)") }
            count = p
        }
        // Key names a file in data/; refuse anything that is not a plain name.
        guard !key.isEmpty, !key.contains("/"), key != "..", key != "." else {
            throw TorchFileError.badTensorField(path: path, field: "storage key", found: key)
        }
        let entryName = prefix + "data/" + key
        let raw = try archive.data(named: entryName)
        guard raw.count == numel * elementSize else {
            throw TorchFileError.storageSize(path: path, entry: entryName, expectedBytes: numel * elementSize, foundBytes: raw.count)
        }
        // The largest storage index the view touches must lie inside the storage.
        if count > 0 {
            var last = offset
            for (d, s) in zip(shape, stride) {
                let (m, o1) = (d - 1).multipliedReportingOverflow(by: s)
                let (sum, o2) = last.addingReportingOverflow(m)
                guard !o1, !o2 else { throw TorchFileError.outOfStorage(path: path, shape: shape, stride: stride, offset: offset, storageElements: numel) }
                last = sum
            }
            guard last < numel else { throw TorchFileError.outOfStorage(path: path, shape: shape, stride: stride, offset: offset, storageElements: numel) }
        }
        let storage = decode(raw, type: storageType)
        // Gather in row-major order through the strides.
        var values = [Float](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: shape.count)
        for flat in 0..<count {
            var at = offset
            for d in 0..<shape.count { at += index[d] * stride[d] }
            values[flat] = storage[at]
            var d = shape.count - 1
            while d >= 0 { index[d] += 1; if index[d] < shape[d] { break }; index[d] = 0; d -= 1 }
        }
        return TorchTensor(shape: shape, values: values)
    }

    private static func integers(_ value: PickleValue, field: String, path: String) throws -> [Int] {
        guard case .tuple(let items) = value, items.count <= 8 else {
            throw TorchFileError.badTensorField(path: path, field: field, found: value.description)
        }
        return try items.map { item -> Int in
            guard case .int(let i) = item else { throw TorchFileError.badTensorField(path: path, field: field, found: value.description) }
            return i
        }
    }

    private static func elementSize(_ storageType: String) -> Int? {
        switch storageType {
        case "FloatStorage": return 4
        case "HalfStorage", "BFloat16Storage": return 2
        case "DoubleStorage": return 8
        default: return nil
        }
    }

    private static func decode(_ raw: [UInt8], type: String) -> [Float] {
        func word(_ i: Int, _ size: Int) -> UInt64 {
            var v: UInt64 = 0
            for k in 0..<size { v |= UInt64(raw[i * size + k]) << (8 * UInt64(k)) }
            return v
        }
        switch type {
        case "HalfStorage": return (0..<(raw.count / 2)).map { Half.toFloat(UInt16(word($0, 2))) }
        case "BFloat16Storage": return (0..<(raw.count / 2)).map { Half.bfloat16ToFloat(UInt16(word($0, 2))) }
        case "DoubleStorage": return (0..<(raw.count / 8)).map { Float(Double(bitPattern: word($0, 8))) }
        default: return (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(word($0, 4))) }
        }
    }
}
