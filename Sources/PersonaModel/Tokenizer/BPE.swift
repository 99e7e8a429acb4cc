// Byte-pair encoding of one pre-token: start from one token per byte, then repeatedly merge the
// adjacent pair with the lowest merge rank until no listed pair remains (GPT-2's algorithm, as
// Hugging Face tokenizers runs it).
//
// Cost: O(n log n) in the word's length n (a 1 MiB word from `persona serve` must not take
// minutes). The symbols form a doubly linked list over an array; a binary heap holds candidate
// pairs ordered by (rank, position). Merging proceeds in rounds, one rank per round: every
// occurrence of the lowest-ranked pair is merged left to right, and the pairs a round creates
// enter the heap only after it — exactly the order of the plain quadratic loop (lowest rank
// first, leftmost first on ties, all occurrences of that pair before any other), which
// `encodeQuadratic` keeps as the reference the tests compare against.

struct BPE {
    /// (left id, right id) → (rank, merged id).
    let merges: [UInt64: (rank: Int32, result: Int32)]
    /// The token of each single byte.
    let byteTokens: [Int32]

    @inline(__always) static func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)) }

    /// A candidate merge of the symbol at `left` with its right neighbour, valid while both still
    /// hold the tokens it was made from.
    struct Candidate {
        var rank: Int32
        var left: Int32
        var leftToken: Int32
        var rightToken: Int32
        var result: Int32
        @inline(__always) func precedes(_ other: Candidate) -> Bool { rank != other.rank ? rank < other.rank : left < other.left }
    }

    /// A binary min-heap of candidates.
    struct CandidateHeap {
        var items: [Candidate] = []
        var isEmpty: Bool { items.isEmpty }
        var top: Candidate? { items.first }

        mutating func push(_ c: Candidate) {
            items.append(c)
            var i = items.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard items[i].precedes(items[parent]) else { break }
                items.swapAt(i, parent); i = parent
            }
        }

        mutating func pop() -> Candidate? {
            guard let first = items.first else { return nil }
            let last = items.removeLast()
            if items.isEmpty { return first }
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < items.count && items[l].precedes(items[best]) { best = l }
                if r < items.count && items[r].precedes(items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best); i = best
            }
            return first
        }
    }

    func encode(_ bytes: [UInt8]) -> [Int] {
        var tokens = bytes.map { byteTokens[Int($0)] }.filter { $0 >= 0 }  // bytes without a token are dropped
        let n = tokens.count
        guard n > 1 else { return tokens.map { Int($0) } }
        // Linked list over the array: next[i] / previous[i] are neighbour indices, -1 at the ends;
        // a merged-away symbol gets tokens[i] = -1.
        var next = (0..<n).map { Int32($0 + 1) }, previous = (0..<n).map { Int32($0 - 1) }
        next[n - 1] = -1
        var heap = CandidateHeap()
        heap.items.reserveCapacity(n)
        func candidate(_ left: Int32) -> Candidate? {
            let right = next[Int(left)]
            guard right >= 0, let m = merges[BPE.key(tokens[Int(left)], tokens[Int(right)])] else { return nil }
            return Candidate(rank: m.rank, left: left, leftToken: tokens[Int(left)], rightToken: tokens[Int(right)], result: m.result)
        }
        for i in 0..<(n - 1) { if let c = candidate(Int32(i)) { heap.push(c) } }
        var created: [Int32] = []
        while let rank = heap.top?.rank {
            // One round: every still-valid occurrence of this rank's pair, left to right.
            created.removeAll(keepingCapacity: true)
            while let c = heap.top, c.rank == rank {
                _ = heap.pop()
                let left = Int(c.left), right = Int(next[left])
                guard tokens[left] == c.leftToken, right >= 0, tokens[right] == c.rightToken else { continue }  // stale
                tokens[left] = c.result
                tokens[right] = -1
                let after = next[right]
                next[left] = after
                if after >= 0 { previous[Int(after)] = Int32(left) }
                if previous[left] >= 0 { created.append(previous[left]) }
                created.append(Int32(left))
            }
            for left in created where tokens[Int(left)] >= 0 { if let c = candidate(left) { heap.push(c) } }
        }
        var out: [Int] = []
        out.reserveCapacity(n)
        var i: Int32 = 0
        while i >= 0 { out.append(Int(tokens[Int(i)])); i = next[Int(i)] }
        return out
    }

    /// The plain quadratic loop: the reference order `encode` must reproduce (tests only).
    func encodeQuadratic(_ bytes: [UInt8]) -> [Int] {
        var parts = bytes.map { byteTokens[Int($0)] }.filter { $0 >= 0 }
        while parts.count > 1 {
            var bestRank = Int32.max, bestIndex = -1, bestResult: Int32 = 0
            for i in 0..<(parts.count - 1) {
                if let m = merges[BPE.key(parts[i], parts[i + 1])], m.rank < bestRank {
                    bestRank = m.rank; bestIndex = i; bestResult = m.result
                }
            }
            if bestIndex < 0 { break }
            // Merge every occurrence of the best pair, left to right.
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
