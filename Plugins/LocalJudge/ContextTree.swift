// The contexts of the local judge's rule as a tree of continuations of the eval prompt: every
// non-empty prefix of a number's tokens up to and including its whole token list (the end
// probability needs the distribution after the last token), and every proper non-empty prefix of
// "REFUSAL"'s tokens. Node i extends its parent (nil = the prompt) by one token; nodes are ordered
// by depth, so a parent always comes before its children.
//
// The pruning rule is the level-by-level path's (LocalJudge.judge): a context is expanded (its
// distribution counts) when its parent was expanded and its own probability — the product of the
// next-token probabilities along its path, summed in log space from the prompt on, in that order
// — is at least `pruneBelow`. `expanded` applies it to whatever rows were computed, so computing a
// context the rule then drops (on speculation) changes nothing.
import PersonaPluginKit

struct ContextTree {
    /// Node i's whole context (its path from the prompt).
    let contexts: [[Int32]]
    /// The token node i appends.
    let tokens: [Int32]
    /// Node i's parent; nil = the prompt.
    let parents: [Int?]

    /// `complete`: numbers (by index) whose end probability the rule takes as 1 (`"end": "scale"`,
    /// see LocalJudge): the distribution after their whole token list is not a context.
    init(numbers: [[Int32]], refusal: [Int32], complete: Set<Int> = []) {
        var all = Set<[Int32]>()
        for (n, number) in numbers.enumerated() where !number.isEmpty {
            let longest = complete.contains(n) ? number.count - 1 : number.count
            if longest >= 1 { for length in 1...longest { all.insert(Array(number.prefix(length))) } }
        }
        if refusal.count >= 2 {
            for length in 1..<refusal.count { all.insert(Array(refusal.prefix(length))) }
        }
        let sorted = all.sorted { $0.count != $1.count ? $0.count < $1.count : $0.lexicographicallyPrecedes($1) }
        var index: [[Int32]: Int] = [:]
        for (i, context) in sorted.enumerated() { index[context] = i }
        contexts = sorted
        tokens = sorted.map { $0[$0.count - 1] }
        parents = sorted.map { $0.count == 1 ? nil : index[Array($0.dropLast())] }
    }

    var count: Int { contexts.count }

    /// Nodes whose context has at most `depth` tokens.
    func nodes(upToDepth depth: Int) -> [Int] { contexts.indices.filter { contexts[$0].count <= depth } }

    /// `wanted` and all their ancestors, in node order.
    func closure(_ wanted: [Int]) -> [Int] {
        var included = Set<Int>()
        for n in wanted {
            var node: Int? = n
            while let current = node, included.insert(current).inserted { node = parents[current] }
        }
        return included.sorted()
    }

    /// A tree_logprobs request: `wanted` with their ancestors; only `wanted` return rows. The
    /// result's `nodes` follow `closure(wanted)`.
    func request(prompt: [Int32], wanted: [Int]) -> HostModel.TreeRequest {
        let nodes = closure(wanted)
        var local: [Int: Int] = [:]
        for (i, n) in nodes.enumerated() { local[n] = i }
        let wantedSet = Set(wanted)
        return HostModel.TreeRequest(
            prompt: prompt,
            nodes: nodes.map { n in
                (token: tokens[n], parent: parents[n].flatMap { local[$0] }, wantsLogProbabilities: wantedSet.contains(n))
            })
    }

    private enum Status { case expanded, dropped, unknown }

    /// The rule applied to the rows known so far: per node, expanded / dropped / unknown (its
    /// path's probability needs a row not computed yet).
    private func statuses(root: [Float], rows: [Int: [Float]], pruneLog: Double) -> [Status] {
        var status = [Status](repeating: .dropped, count: count)
        var pathLog = [Double](repeating: -.infinity, count: count)
        for n in 0..<count {
            let parentStatus = parents[n].map { status[$0] } ?? .expanded
            switch parentStatus {
            case .dropped: status[n] = .dropped
            case .unknown: status[n] = .unknown
            case .expanded:
                let parentRow = parents[n].map { rows[$0] } ?? root
                guard let parentRow else { status[n] = .unknown; continue }
                let token = Int(tokens[n])
                let step = token >= 0 && token < parentRow.count ? Double(parentRow[token]) : -.infinity
                pathLog[n] = (parents[n].map { pathLog[$0] } ?? 0.0) + step
                status[n] = pathLog[n] >= pruneLog ? .expanded : .dropped
            }
        }
        return status
    }

    /// Nodes still to compute: those the rule expands whose rows are missing, and those it may
    /// still expand (unknown) — computed on speculation.
    func candidates(root: [Float], rows: [Int: [Float]], pruneLog: Double) -> [Int] {
        let status = statuses(root: root, rows: rows, pruneLog: pruneLog)
        return (0..<count).filter { rows[$0] == nil && status[$0] != .dropped }
    }

    /// The distributions the rule counts, keyed by context ([] = the prompt): the level-by-level
    /// path's `distributions` for the same rows.
    func expanded(root: [Float], rows: [Int: [Float]], pruneLog: Double) -> [[Int32]: [Float]] {
        let status = statuses(root: root, rows: rows, pruneLog: pruneLog)
        var distributions: [[Int32]: [Float]] = [[]: root]
        for n in 0..<count where status[n] == .expanded {
            if let row = rows[n] { distributions[contexts[n]] = row }
        }
        return distributions
    }
}
