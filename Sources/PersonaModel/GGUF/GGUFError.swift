// Errors of the GGUF reader. Each names the file, the field and the bad value.

/// Why a GGUF file was refused.
public enum GGUFError: Error, CustomStringConvertible, Equatable {
    case truncated(path: String, field: String, offset: Int, needed: Int, available: Int)
    case badMagic(path: String, found: [UInt8])
    case unsupportedVersion(path: String, version: UInt32)
    case countTooLarge(path: String, field: String, count: UInt64, maximum: Int)
    case stringTooLong(path: String, field: String, length: UInt64, available: Int)
    case invalidUTF8(path: String, field: String)
    case unknownValueType(path: String, field: String, type: UInt32)
    case nestingTooDeep(path: String, field: String, depth: Int)
    case duplicateKey(path: String, key: String)
    case duplicateTensor(path: String, name: String)
    case badDimensionCount(path: String, tensor: String, count: UInt32)
    case badDimension(path: String, tensor: String, index: Int, value: UInt64)
    case shapeOverflow(path: String, tensor: String, shape: [UInt64])
    case unknownTensorType(path: String, tensor: String, type: UInt32)
    case notBlockAligned(path: String, tensor: String, type: String, rowLength: Int, blockSize: Int)
    case misalignedTensor(path: String, tensor: String, offset: UInt64, alignment: Int)
    case tensorOutsideData(path: String, tensor: String, offset: UInt64, size: Int, dataSize: Int)
    case overlappingTensors(path: String, first: String, second: String)
    case badAlignment(path: String, value: String)
    case wrongValueType(path: String, key: String, expected: String, found: String)
    case missingKey(path: String, key: String)
    case missingTensor(path: String, name: String)

    public var description: String {
        switch self {
        case let .truncated(path, field, offset, needed, available):
            return "\(path): truncated GGUF: \(field) at byte \(offset) needs \(needed) bytes, only \(available) remain"
        case let .badMagic(path, found):
            let hex = found.map { String($0, radix: 16) }.joined(separator: " ")
            return "\(path): not a GGUF file: magic is [\(hex)], expected \"GGUF\""
        case let .unsupportedVersion(path, version):
            return "\(path): unsupported GGUF version \(version) (supported: 2, 3)"
        case let .countTooLarge(path, field, count, maximum):
            return "\(path): \(field) = \(count) is larger than the file could hold (at most \(maximum))"
        case let .stringTooLong(path, field, length, available):
            return "\(path): \(field): string length \(length) runs past the end of the file (\(available) bytes remain)"
        case let .invalidUTF8(path, field):
            return "\(path): \(field) is not valid UTF-8"
        case let .unknownValueType(path, field, type):
            return "\(path): \(field): unknown metadata value type \(type)"
        case let .nestingTooDeep(path, field, depth):
            return "\(path): \(field): arrays nested deeper than \(depth)"
        case let .duplicateKey(path, key):
            return "\(path): metadata key \"\(key)\" appears twice"
        case let .duplicateTensor(path, name):
            return "\(path): tensor \"\(name)\" appears twice"
        case let .badDimensionCount(path, tensor, count):
            return "\(path): tensor \"\(tensor)\": \(count) dimensions (expected 1…4)"
        case let .badDimension(path, tensor, index, value):
            return "\(path): tensor \"\(tensor)\": dimension \(index) = \(value) is out of range"
        case let .shapeOverflow(path, tensor, shape):
            return "\(path): tensor \"\(tensor)\": shape \(shape) overflows the element count"
        case let .unknownTensorType(path, tensor, type):
            return "\(path): tensor \"\(tensor)\": unknown tensor type \(type)"
        case let .notBlockAligned(path, tensor, type, rowLength, blockSize):
            return "\(path): tensor \"\(tensor)\": row length \(rowLength) is not a multiple of the \(type) block size \(blockSize)"
        case let .misalignedTensor(path, tensor, offset, alignment):
            return "\(path): tensor \"\(tensor)\": data offset \(offset) is not a multiple of the alignment \(alignment)"
        case let .tensorOutsideData(path, tensor, offset, size, dataSize):
            return
                "\(path): tensor \"\(tensor)\": bytes \(offset)..<\(offset + UInt64(size)) lie outside the data section (\(dataSize) bytes); the file may be truncated"
        case let .overlappingTensors(path, first, second):
            return "\(path): tensors \"\(first)\" and \"\(second)\" overlap"
        case let .badAlignment(path, value):
            return "\(path): general.alignment = \(value) (expected a power of two ≥ 1)"
        case let .wrongValueType(path, key, expected, found):
            return "\(path): metadata \"\(key)\" has type \(found), expected \(expected)"
        case let .missingKey(path, key):
            return "\(path): metadata key \"\(key)\" is missing"
        case let .missingTensor(path, name):
            return "\(path): tensor \"\(name)\" is missing"
        }
    }
}
