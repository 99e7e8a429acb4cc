// A small DEFLATE decoder (RFC 1951: stored, fixed-Huffman and dynamic-Huffman blocks) for ZIP
// entries written with compression method 8. torch.save stores its entries uncompressed, but a
// `.pt` re-zipped by other tools may be deflated. Canonical Huffman codes are decoded bit by bit
// (simple, and fast enough for vector files). Hostile input: every code table is checked (no
// over-subscribed code, end-of-block present), back-references must stay inside the output, and
// the output may not exceed the size the archive declares.

enum InflateError: Error, Equatable {
    case truncated
    case badBlockType(Int)
    case storedLengthMismatch
    case badCodeLengths(String)
    case badSymbol(Int)
    case badDistance(Int)
    case outputTooLarge(Int)
}

struct Inflate {
    private let input: [UInt8]
    private var position = 0
    private var bitBuffer = 0
    private var bitCount = 0
    private var output: [UInt8] = []
    private let limit: Int

    /// Decompresses a raw DEFLATE stream; the output may hold at most `limit` bytes.
    static func decompress(_ input: [UInt8], limit: Int) throws -> [UInt8] {
        var inflater = Inflate(input: input, limit: limit)
        try inflater.run()
        return inflater.output
    }

    private init(input: [UInt8], limit: Int) {
        self.input = input
        self.limit = limit
        output.reserveCapacity(min(limit, 1 << 24))
    }

    private mutating func bits(_ n: Int) throws -> Int {
        while bitCount < n {
            guard position < input.count else { throw InflateError.truncated }
            bitBuffer |= Int(input[position]) << bitCount
            position += 1
            bitCount += 8
        }
        let v = bitBuffer & ((1 << n) - 1)
        bitBuffer >>= n
        bitCount -= n
        return v
    }

    /// A canonical Huffman code: how many codes of each length, and the symbols in code order.
    struct Huffman {
        var counts = [Int](repeating: 0, count: 16)
        var symbols: [Int] = []

        init(lengths: [Int]) throws {
            for l in lengths { counts[l] += 1 }
            counts[0] = 0
            var left = 1
            for len in 1...15 {
                left <<= 1
                left -= counts[len]
                guard left >= 0 else { throw InflateError.badCodeLengths("over-subscribed code") }
            }
            var offsets = [Int](repeating: 0, count: 16)
            for len in 1..<15 { offsets[len + 1] = offsets[len] + counts[len] }
            symbols = [Int](repeating: 0, count: lengths.count)
            for (symbol, l) in lengths.enumerated() where l != 0 {
                symbols[offsets[l]] = symbol
                offsets[l] += 1
            }
        }
    }

    private mutating func decode(_ h: Huffman) throws -> Int {
        var code = 0, first = 0, index = 0
        for len in 1...15 {
            code |= try bits(1)
            let count = h.counts[len]
            if code - first < count { return h.symbols[index + code - first] }
            index += count
            first = (first + count) << 1
            code <<= 1
        }
        throw InflateError.badCodeLengths("code not in the table")
    }

    private static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
                                       4097, 6145, 8193, 12289, 16385, 24577]
    private static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    private static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    private mutating func run() throws {
        var final = 0
        repeat {
            final = try bits(1)
            switch try bits(2) {
            case 0: try stored()
            case 1:
                let lit = try Huffman(lengths: [Int](repeating: 8, count: 144) + [Int](repeating: 9, count: 112) + [Int](repeating: 7, count: 24) + [Int](repeating: 8, count: 8))
                try codes(lit, try Huffman(lengths: [Int](repeating: 5, count: 30)))
            case 2: try dynamic()
            case let t: throw InflateError.badBlockType(t)
            }
        } while final == 0
    }

    private mutating func stored() throws {
        bitBuffer = 0; bitCount = 0   // to the byte boundary
        guard input.count - position >= 4 else { throw InflateError.truncated }
        let len = Int(input[position]) | Int(input[position + 1]) << 8
        let nlen = Int(input[position + 2]) | Int(input[position + 3]) << 8
        position += 4
        guard len == (~nlen & 0xFFFF) else { throw InflateError.storedLengthMismatch }
        guard input.count - position >= len else { throw InflateError.truncated }
        guard output.count + len <= limit else { throw InflateError.outputTooLarge(limit) }
        output += input[position..<(position + len)]
        position += len
    }

    private mutating func dynamic() throws {
        let literalCount = try bits(5) + 257, distanceCount = try bits(5) + 1, codeLengthCount = try bits(4) + 4
        guard literalCount <= 286, distanceCount <= 30 else { throw InflateError.badCodeLengths("\(literalCount) literal / \(distanceCount) distance codes") }
        var codeLengths = [Int](repeating: 0, count: 19)
        for i in 0..<codeLengthCount { codeLengths[Inflate.codeLengthOrder[i]] = try bits(3) }
        let lengthCode = try Huffman(lengths: codeLengths)
        var lengths: [Int] = []
        while lengths.count < literalCount + distanceCount {
            let symbol = try decode(lengthCode)
            switch symbol {
            case 0...15: lengths.append(symbol)
            case 16:
                guard let previous = lengths.last else { throw InflateError.badCodeLengths("repeat with no previous length") }
                lengths += [Int](repeating: previous, count: 3 + (try bits(2)))
            case 17: lengths += [Int](repeating: 0, count: 3 + (try bits(3)))
            default: lengths += [Int](repeating: 0, count: 11 + (try bits(7)))
            }
        }
        guard lengths.count == literalCount + distanceCount else { throw InflateError.badCodeLengths("lengths overrun the table") }
        guard lengths[256] != 0 else { throw InflateError.badCodeLengths("no end-of-block code") }
        try codes(try Huffman(lengths: Array(lengths[0..<literalCount])), try Huffman(lengths: Array(lengths[literalCount...])))
    }

    private mutating func codes(_ literal: Huffman, _ distance: Huffman) throws {
        while true {
            let symbol = try decode(literal)
            if symbol < 256 {
                guard output.count < limit else { throw InflateError.outputTooLarge(limit) }
                output.append(UInt8(symbol))
            } else if symbol == 256 {
                return
            } else {
                let l = symbol - 257
                guard l < 29 else { throw InflateError.badSymbol(symbol) }
                let length = Inflate.lengthBase[l] + (try bits(Inflate.lengthExtra[l]))
                let d = try decode(distance)
                guard d < 30 else { throw InflateError.badSymbol(d) }
                let dist = Inflate.distanceBase[d] + (try bits(Inflate.distanceExtra[d]))
                guard dist <= output.count else { throw InflateError.badDistance(dist) }
                guard output.count + length <= limit else { throw InflateError.outputTooLarge(limit) }
                let start = output.count - dist
                for k in 0..<length { output.append(output[start + k]) }
            }
        }
    }
}
