// Errors of the tokenizer.

public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case unknownPreTokenizer(source: String, name: String)
    case unknownModel(source: String, name: String)
    case missingField(source: String, field: String)
    case badField(source: String, field: String, reason: String)
    case missingByteToken(source: String, byte: UInt8)
    case badMerge(source: String, index: Int, merge: String)

    public var description: String {
        switch self {
        case let .unknownPreTokenizer(source, name):
            return "\(source): unknown pre-tokenizer \"\(name)\" (known: \(PreTokenizerKind.knownNames.joined(separator: ", ")))"
        case let .unknownModel(source, name): return "\(source): tokenizer model \"\(name)\" is not supported (supported: gpt2 byte-level BPE)"
        case let .missingField(source, field): return "\(source): \(field) is missing"
        case let .badField(source, field, reason): return "\(source): \(field): \(reason)"
        case let .missingByteToken(source, byte): return "\(source): the vocabulary has no token for byte 0x\(String(byte, radix: 16))"
        case let .badMerge(source, index, merge): return "\(source): merge \(index) \"\(merge)\" is not two vocabulary tokens"
        }
    }
}
