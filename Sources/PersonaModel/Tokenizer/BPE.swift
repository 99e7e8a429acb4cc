// Byte-pair encoding of one pre-token: start from one token per byte, then repeatedly merge the
// adjacent pair with the lowest merge rank until no listed pair remains (GPT-2's algorithm).

struct BPE {
    /// (left id, right id) → (rank, merged id).
    let merges: [UInt64: (rank: Int32, result: Int32)]
    /// The token of each single byte.
    let byteTokens: [Int32]

    @inline(__always) static func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)) }

    func encode(_ bytes: [UInt8]) -> [Int] {
        var parts = bytes.map { byteTokens[Int($0)] }.filter { $0 >= 0 }   // bytes without a token are dropped
        while parts.count > 1 {
            var bestRank = Int32.max, bestIndex = -1, bestResult: Int32 = 0
            for i in 0..<(parts.count - 1) {
                if let m = merges[BPE.key(parts[i], parts[i + 1])], m.rank < bestRank {
                    bestRank = m.rank; bestIndex = i; bestResult = m.result
                }
            }
            if bestIndex < 0 { break }
            // Merge every occurrence of the best pair, left to right (same result as one at a time).
            let left = parts[bestIndex], right = parts[bestIndex + 1]
            var merged: [Int32] = []
            merged.reserveCapacity(parts.count)
            var i = 0
            while i < parts.count {
                if i + 1 < parts.count && parts[i] == left && parts[i + 1] == right {
                    merged.append(bestResult); i += 2
                } else {
                    merged.append(parts[i]); i += 1
                }
            }
            parts = merged
        }
        return parts.map { Int($0) }
    }
}
