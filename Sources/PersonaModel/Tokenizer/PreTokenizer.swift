// Pre-tokenization: splitting text into words before BPE, by the regular expressions of the
// byte-level tokenizers, implemented by hand as small matchers over Unicode scalars (Unicode
// general categories for \p{L} and \p{N}, the White_Space property for \s). Each name is the one
// llama.cpp writes into `tokenizer.ggml.pre`:
//
//   gpt2, smollm:  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   qwen2:         (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}
//                  | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   llama-bpe/llama3: as qwen2 with \p{N}{1,3}
//
// (SmolLM2's vocabulary has no merges between digits, so its "individual digits" rule and the
// GPT-2 pattern give the same tokens; the Hugging Face tokenizer built from the GGUF uses GPT-2's.)

/// The known pre-tokenizers.
public enum PreTokenizerKind: String, Sendable, CaseIterable {
    case gpt2
    case qwen2
    case llama3

    static let aliases: [String: PreTokenizerKind] = [
        "gpt2": .gpt2, "gpt-2": .gpt2, "smollm": .gpt2, "default": .gpt2,
        "qwen2": .qwen2,
        "llama-bpe": .llama3, "llama3": .llama3, "llama-v3": .llama3
    ]
    static var knownNames: [String] { aliases.keys.sorted() }

    /// The kind for a GGUF `tokenizer.ggml.pre` name.
    public init?(name: String) {
        guard let k = PreTokenizerKind.aliases[name] else { return nil }
        self = k
    }
}

/// Splits text into pre-tokens (as ranges of Unicode scalar indices).
struct PreTokenizer {
    let kind: PreTokenizerKind

    private enum Class { case letter, number, space, newline, other }

    private static func classify(_ s: Unicode.Scalar) -> Class {
        if s == "\r" || s == "\n" { return .newline }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return s.properties.isWhitespace ? .space : .other
        }
    }

    /// The pre-tokens of `scalars`, in order, covering every scalar.
    func split(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        let classes = scalars.map(PreTokenizer.classify)
        let n = scalars.count
        var out: [Range<Int>] = []
        var i = 0
        func isSpace(_ j: Int) -> Bool { classes[j] == .space || classes[j] == .newline }
        func run(from j: Int, while p: (Int) -> Bool) -> Int {  // end index of the run
            var k = j
            while k < n && p(k) { k += 1 }
            return k
        }
        func contraction(at j: Int, caseInsensitive: Bool) -> Int? {
            guard scalars[j] == "'", j + 1 < n else { return nil }
            func lower(_ k: Int) -> Unicode.Scalar? {
                guard k < n else { return nil }
                let s = scalars[k]
                if caseInsensitive, s.value >= 65, s.value <= 90 { return Unicode.Scalar(s.value + 32) }
                return s
            }
            let a = lower(j + 1), b = lower(j + 2)
            if b == "e" && (a == "r" || a == "v") { return j + 3 }
            if a == "l" && b == "l" { return j + 3 }
            if a == "s" || a == "t" || a == "m" || a == "d" { return j + 2 }
            return nil
        }
        // \s+(?!\S) then \s+: a whitespace run followed by more text gives back its last char.
        func whitespace(at j: Int) -> Int {
            let end = run(from: j, while: isSpace)
            if end == n || end - j == 1 { return end }
            return end - 1
        }
        while i < n {
            var end: Int
            switch kind {
            case .gpt2:
                if let e = contraction(at: i, caseInsensitive: false) {
                    end = e
                } else {
                    let start = (scalars[i] == " " && i + 1 < n) ? i + 1 : i
                    let c = classes[start]
                    if scalars[i] == " " && i + 1 < n && c != .space && c != .newline {
                        switch c {
                        case .letter: end = run(from: start) { classes[$0] == .letter }
                        case .number: end = run(from: start) { classes[$0] == .number }
                        default: end = run(from: start) { classes[$0] == .other }
                        }
                    } else {
                        switch classes[i] {
                        case .letter: end = run(from: i) { classes[$0] == .letter }
                        case .number: end = run(from: i) { classes[$0] == .number }
                        case .other: end = run(from: i) { classes[$0] == .other }
                        case .space, .newline: end = whitespace(at: i)
                        }
                    }
                }
            case .qwen2, .llama3:
                if let e = contraction(at: i, caseInsensitive: true) {
                    end = e
                } else if classes[i] == .letter {
                    end = run(from: i) { classes[$0] == .letter }
                } else if classes[i] != .newline && classes[i] != .number && i + 1 < n && classes[i + 1] == .letter {
                    // [^\r\n\p{L}\p{N}]?\p{L}+ with the optional character.
                    end = run(from: i + 1) { classes[$0] == .letter }
                } else if classes[i] == .number {
                    let limit = kind == .qwen2 ? 1 : 3
                    end = i + 1
                    while end < n && end - i < limit && classes[end] == .number { end += 1 }
                } else if classes[i] == .other || (scalars[i] == " " && i + 1 < n && classes[i + 1] == .other) {
                    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
                    let start = classes[i] == .other ? i : i + 1
                    end = run(from: start) { classes[$0] == .other }
                    end = run(from: end) { classes[$0] == .newline }
                } else {
                    // \s*[\r\n]+ : up to the last newline of the whitespace run, else \s+(?!\S) / \s+.
                    let runEnd = run(from: i, while: isSpace)
                    if let lastNewline = (i..<runEnd).last(where: { classes[$0] == .newline }) {
                        end = lastNewline + 1
                    } else {
                        end = whitespace(at: i)
                    }
                }
            }
            out.append(i..<end)
            i = end
        }
        return out
    }
}
