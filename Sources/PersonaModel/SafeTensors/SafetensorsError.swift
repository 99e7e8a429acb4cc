// Errors of the safetensors and Hugging Face folder readers.

public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case truncated(path: String, needed: Int, available: Int)
    case headerTooLarge(path: String, size: UInt64, maximum: Int)
    case badHeader(path: String, reason: String)
    case badTensorEntry(path: String, tensor: String, field: String, reason: String)
    case unsupportedDType(path: String, tensor: String, dtype: String)
    case tensorOutsideData(path: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    case sizeMismatch(path: String, tensor: String, shape: [Int], dtype: String, expectedBytes: Int, foundBytes: Int)
    case overlappingTensors(path: String, first: String, second: String)
    case badIndex(path: String, reason: String)
    case unsafeShardName(path: String, name: String)
    case missingTensor(path: String, name: String)
    case duplicateTensor(path: String, name: String)
    case notAModelFolder(path: String, reason: String)

    public var description: String {
        switch self {
        case let .truncated(path, needed, available):
            return "\(path): truncated safetensors file: needs \(needed) bytes, has \(available)"
        case let .headerTooLarge(path, size, maximum):
            return "\(path): header length \(size) is larger than the file or the limit (\(maximum) bytes)"
        case let .badHeader(path, reason):
            return "\(path): bad safetensors header: \(reason)"
        case let .badTensorEntry(path, tensor, field, reason):
            return "\(path): tensor \"\(tensor)\": \(field): \(reason)"
        case let .unsupportedDType(path, tensor, dtype):
            return "\(path): tensor \"\(tensor)\": dtype \(dtype) is not supported (F32, F16, BF16)"
        case let .tensorOutsideData(path, tensor, begin, end, dataSize):
            return "\(path): tensor \"\(tensor)\": data_offsets [\(begin), \(end)] lie outside the data (\(dataSize) bytes)"
        case let .sizeMismatch(path, tensor, shape, dtype, expected, found):
            return "\(path): tensor \"\(tensor)\": shape \(shape) of \(dtype) needs \(expected) bytes, data_offsets give \(found)"
        case let .overlappingTensors(path, first, second):
            return "\(path): tensors \"\(first)\" and \"\(second)\" overlap"
        case let .badIndex(path, reason):
            return "\(path): bad shard index: \(reason)"
        case let .unsafeShardName(path, name):
            return "\(path): shard file name \"\(name)\" is not a plain file name in the model folder"
        case let .missingTensor(path, name):
            return "\(path): tensor \"\(name)\" is missing"
        case let .duplicateTensor(path, name):
            return "\(path): tensor \"\(name)\" appears in more than one shard"
        case let .notAModelFolder(path, reason):
            return "\(path): not a Hugging Face model folder: \(reason)"
        }
    }
}
