// Jinja lexer: splits a template into text and tag tokens, applying whitespace control (`{%-`,
// `-%}`, `{{-`, `-}}`) and the settings Hugging Face renders chat templates with:
// trim_blocks (the first newline after a block tag is removed) and lstrip_blocks (spaces and tabs
// before a block tag at the start of a line are removed). Inside tags it produces expression tokens.

enum TokenKind: Equatable {
    case text(String)
    case blockStart, blockEnd, variableStart, variableEnd
    case name(String)
    case string(String)
    case int(Int)
    case double(Double)
    case op(String)
    case end
}

struct Token {
    let kind: TokenKind
    let line: Int
    let column: Int
}

struct Lexer {
    let source: [Character]
    var index = 0
    var line = 1
    var column = 1
    var tokens: [Token] = []

    init(_ text: String) { source = Array(text) }

    static func tokenize(_ text: String) throws -> [Token] {
        var lexer = Lexer(text)
        try lexer.run()
        return lexer.tokens
    }

    func peek(_ offset: Int = 0) -> Character? { index + offset < source.count ? source[index + offset] : nil }

    mutating func advance(_ n: Int = 1) {
        for _ in 0..<n where index < source.count {
            if source[index] == "\n" || source[index] == "\r\n" { line += 1; column = 1 } else { column += 1 }
            index += 1
        }
    }

    func error(_ message: String) -> TemplateError { .syntax(line: line, column: column, message: message) }

    func startsWith(_ s: String) -> Bool {
        var i = index
        for c in s { guard i < source.count, source[i] == c else { return false }; i += 1 }
        return true
    }

    mutating func run() throws {
        var text = ""
        var textLine = line, textColumn = column
        var trimNextNewline = false, stripNextWhitespace = false
        func flush(_ tokens: inout [Token]) {
            if !text.isEmpty { tokens.append(Token(kind: .text(text), line: textLine, column: textColumn)) }
            text = ""
        }
        while index < source.count {
            let isTag = startsWith("{{") || startsWith("{%") || startsWith("{#")
            if !isTag {
                if stripNextWhitespace {
                    if source[index].isWhitespace { advance(); continue }
                    stripNextWhitespace = false
                }
                if trimNextNewline {
                    trimNextNewline = false
                    if source[index] == "\n" || source[index] == "\r\n" { advance(); continue }  // "\r\n" is one Character
                }
                if text.isEmpty { textLine = line; textColumn = column }
                text.append(source[index])
                advance()
                continue
            }
            stripNextWhitespace = false
            trimNextNewline = false
            let opener = source[index + 1]
            let minus = peek(2) == "-"
            let plus = peek(2) == "+"
            // Whitespace before the tag.
            if minus {
                while let last = text.last, last.isWhitespace { text.removeLast() }
            } else if (opener == "%" || opener == "#") && !plus {
                // lstrip_blocks: spaces/tabs between the start of the line (in the source) and the tag go.
                var j = index - 1, count = 0
                while j >= 0 && (source[j] == " " || source[j] == "\t") { j -= 1; count += 1 }
                if j < 0 || source[j] == "\n" || source[j] == "\r\n" {
                    for _ in 0..<count where text.last == " " || text.last == "\t" { text.removeLast() }
                }
            }
            flush(&tokens)
            let tagLine = line, tagColumn = column
            advance((minus || plus) ? 3 : 2)
            if opener == "#" {
                // Comment: skip to #}.
                while index < source.count && !startsWith("#}") { advance() }
                guard index < source.count else { throw TemplateError.syntax(line: tagLine, column: tagColumn, message: "unclosed comment") }
                if source[index - 1] == "-" { stripNextWhitespace = true } else { trimNextNewline = true }
                advance(2)
                continue
            }
            tokens.append(Token(kind: opener == "%" ? .blockStart : .variableStart, line: tagLine, column: tagColumn))
            let closer: String = opener == "%" ? "%}" : "}}"
            while true {
                while let c = peek(), c.isWhitespace { advance() }
                guard index < source.count else {
                    throw TemplateError.syntax(line: tagLine, column: tagColumn, message: "unclosed tag: expected \(closer)")
                }
                if startsWith("-" + closer) || startsWith(closer) {
                    if source[index] == "-" { stripNextWhitespace = true; advance() } else if opener == "%" { trimNextNewline = true }
                    advance(2)
                    tokens.append(Token(kind: opener == "%" ? .blockEnd : .variableEnd, line: line, column: column))
                    break
                }
                try lexExpressionToken()
            }
        }
        flush(&tokens)
        tokens.append(Token(kind: .end, line: line, column: column))
        // A raw block is not supported: say so rather than mis-render.
        if tokens.contains(where: {
            if case .name("raw") = $0.kind { return true }; return false
        })
            && tokens.contains(where: {
                if case .name("endraw") = $0.kind { return true }; return false
            })
        {
            throw TemplateError.syntax(line: 1, column: 1, message: "{% raw %} blocks are not supported")
        }
    }

    mutating func lexExpressionToken() throws {
        let startLine = line, startColumn = column
        func add(_ kind: TokenKind) { tokens.append(Token(kind: kind, line: startLine, column: startColumn)) }
        guard let c = peek() else { return }
        if c.isLetter || c == "_" {
            var name = ""
            while let d = peek(), d.isLetter || d.isNumber || d == "_" { name.append(d); advance() }
            add(.name(name))
            return
        }
        if c.isNumber {
            var digits = ""
            var isFloat = false
            while let d = peek(), d.isNumber || d == "_" || (d == "." && !isFloat && (peek(1)?.isNumber ?? false)) {
                if d == "." { isFloat = true }
                if d != "_" { digits.append(d) }
                advance()
            }
            if isFloat {
                add(.double(Double(digits) ?? 0))
            } else {
                guard let v = Int(digits) else { throw error("integer literal \(digits) is too large") }
                add(.int(v))
            }
            return
        }
        if c == "'" || c == "\"" {
            advance()
            var s = ""
            while true {
                guard let d = peek() else { throw TemplateError.syntax(line: startLine, column: startColumn, message: "unterminated string") }
                advance()
                if d == c { break }
                if d == "\\" {
                    guard let e = peek() else { throw TemplateError.syntax(line: startLine, column: startColumn, message: "unterminated string") }
                    advance()
                    switch e {
                    case "n": s.append("\n")
                    case "t": s.append("\t")
                    case "r": s.append("\r")
                    case "\\": s.append("\\")
                    case "'": s.append("'")
                    case "\"": s.append("\"")
                    default: s.append("\\"); s.append(e)
                    }
                } else {
                    s.append(d)
                }
            }
            add(.string(s))
            return
        }
        for op in ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"]
        where startsWith(op) {
            advance(op.count)
            add(.op(op))
            return
        }
        throw error("unexpected character \"\(c)\"")
    }
}
