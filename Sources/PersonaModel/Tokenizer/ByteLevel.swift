// GPT-2's byte-level alphabet: every byte maps to a printable Unicode character so that BPE
// vocabularies can be stored as text ("Ġworld" for " world"). The mapping follows GPT-2's
// `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other 68 to U+0100 onwards.

enum ByteLevel {
    /// byte → the scalar that stands for it.
    static let byteToScalar: [Unicode.Scalar] = {
        var printable = Set<Int>()
        for r in [0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF] { for b in r { printable.insert(b) } }
        var next = 256
        return (0..<256).map { b in
            if printable.contains(b) { return Unicode.Scalar(UInt32(b))! }
            defer { next += 1 }
            return Unicode.Scalar(UInt32(next))!
        }
    }()

    /// scalar value → byte, for scalars of the alphabet.
    static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// The raw bytes a vocabulary string stands for, or nil when it uses characters outside the
    /// alphabet (special tokens such as "<|im_start|>" are plain ASCII and map to themselves).
    static func decode(_ text: [UInt8]) -> [UInt8]? {
        guard let s = String(validating: text, as: UTF8.self) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        for scalar in s.unicodeScalars {
            guard let b = scalarToByte[scalar.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
