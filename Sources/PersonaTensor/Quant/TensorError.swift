// Errors of the numeric core.

public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// A ggml type we recognise but do not decode.
    case unsupportedType(GGMLType)
    case notBlockAligned(type: GGMLType, elements: Int)
    case bufferTooSmall(type: GGMLType, needed: Int, available: Int)

    public var description: String {
        switch self {
        case .unsupportedType(let t):
            return "tensor type \(t.name) is not supported (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)"
        case let .notBlockAligned(type, elements):
            return "\(elements) elements is not a whole number of \(type.name) blocks of \(type.blockSize)"
        case let .bufferTooSmall(type, needed, available):
            return "\(type.name) data needs \(needed) bytes, only \(available) given"
        }
    }
}
