// Jinja parser: recursive descent over the lexer's tokens, one function per precedence level
// (as Jinja2's own parser): conditional → or → and → not → comparison → + - → ~ → * / // % → ** →
// unary → primary with postfix (attribute, subscript, call, filter, test).

struct Parser {
    let tokens: [Token]
    var position = 0
    var depth = 0
    static let maximumDepth = 200

    init(tokens: [Token]) { self.tokens = tokens }

    static func parse(_ source: String) throws -> [Node] {
        // Jinja's default keep_trailing_newline=False: one trailing newline of the source is dropped.
        var text = source
        if text.last == "\n" || text.last == "\r\n" { text.removeLast() }  // "\r\n" is one Character
        var parser = Parser(tokens: try Lexer.tokenize(text))
        let (nodes, stop) = try parser.parseNodes(until: [])
        if let stop { throw parser.error("unexpected {% \(stop) %}") }
        return nodes
    }

    var current: Token { tokens[min(position, tokens.count - 1)] }

    func error(_ message: String) -> TemplateError { .syntax(line: current.line, column: current.column, message: message) }

    func describe(_ k: TokenKind) -> String {
        switch k {
        case .text: return "text"
        case .blockStart: return "{%"
        case .blockEnd: return "%}"
        case .variableStart: return "{{"
        case .variableEnd: return "}}"
        case .name(let n): return n
        case .string(let s): return "'\(s)'"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .op(let o): return o
        case .end: return "end of template"
        }
    }

    mutating func next() -> Token { defer { position += 1 }; return current }

    mutating func expect(_ kind: TokenKind) throws {
        guard current.kind == kind else { throw error("expected \(describe(kind)), found \(describe(current.kind))") }
        position += 1
    }

    mutating func expectName() throws -> String {
        guard case .name(let n) = current.kind else { throw error("expected a name, found \(describe(current.kind))") }
        position += 1
        return n
    }

    func isName(_ n: String, offset: Int = 0) -> Bool {
        if case .name(n) = tokens[min(position + offset, tokens.count - 1)].kind { return true }
        return false
    }

    func isOp(_ o: String) -> Bool { current.kind == .op(o) }

    mutating func skipOp(_ o: String) -> Bool {
        if isOp(o) { position += 1; return true }
        return false
    }

    // MARK: Statements

    /// Parses nodes until a block tag whose keyword is in `stops`; returns that keyword (the tag's
    /// start and keyword consumed) or nil at the end of the template.
    mutating func parseNodes(until stops: Set<String>) throws -> ([Node], String?) {
        depth += 1
        defer { depth -= 1 }
        guard depth < Parser.maximumDepth else { throw TemplateError.limitExceeded(limit: "nesting depth", value: Parser.maximumDepth) }
        var nodes: [Node] = []
        while true {
            let token = current
            switch token.kind {
            case .end:
                return (nodes, nil)
            case .text(let t):
                position += 1
                nodes.append(.text(t))
            case .variableStart:
                position += 1
                nodes.append(.output(try parseExpression()))
                try expect(.variableEnd)
            case .blockStart:
                position += 1
                guard case .name(let keyword) = current.kind else { throw error("expected a statement, found \(describe(current.kind))") }
                if stops.contains(keyword) { position += 1; return (nodes, keyword) }
                nodes.append(try parseStatement())
            default:
                throw error("unexpected \(describe(token.kind))")
            }
        }
    }

    mutating func parseStatement() throws -> Node {
        let keyword = try expectName()
        switch keyword {
        case "if":
            var branches: [(Expression, [Node])] = []
            var condition = try parseExpression()
            try expect(.blockEnd)
            while true {
                let (body, stop) = try parseNodes(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                switch stop {
                case "elif":
                    condition = try parseExpression()
                    try expect(.blockEnd)
                case "else":
                    try expect(.blockEnd)
                    let (otherwise, end) = try parseNodes(until: ["endif"])
                    guard end != nil else { throw error("missing {% endif %}") }
                    try expect(.blockEnd)
                    return .ifBlock(branches: branches, otherwise: otherwise)
                case "endif":
                    try expect(.blockEnd)
                    return .ifBlock(branches: branches, otherwise: [])
                default:
                    throw error("missing {% endif %}")
                }
            }
        case "for":
            var targets = [try expectName()]
            while skipOp(",") { targets.append(try expectName()) }
            guard isName("in") else { throw error("expected 'in' in for loop") }
            position += 1
            let iterable = try parseOr()
            var condition: Expression? = nil
            if isName("if") { position += 1; condition = try parseExpression() }
            try expect(.blockEnd)
            let (body, stop) = try parseNodes(until: ["else", "endfor"])
            var otherwise: [Node] = []
            if stop == "else" {
                try expect(.blockEnd)
                let (o, end) = try parseNodes(until: ["endfor"])
                guard end != nil else { throw error("missing {% endfor %}") }
                otherwise = o
            } else if stop == nil {
                throw error("missing {% endfor %}")
            }
            try expect(.blockEnd)
            return .forLoop(targets: targets, iterable: iterable, condition: condition, body: body, otherwise: otherwise)
        case "set":
            let name = try expectName()
            var target = Expression.name(name)
            if skipOp(".") { target = .attribute(target, try expectName()) }
            if current.kind == .blockEnd {
                position += 1
                let (body, stop) = try parseNodes(until: ["endset"])
                guard stop != nil else { throw error("missing {% endset %}") }
                try expect(.blockEnd)
                return .setBlock(name: name, body: body)
            }
            try expect(.op("="))
            var value = try parseExpression()
            if isOp(",") {  // set a = 1, 2 → a tuple (a list here)
                var items = [value]
                while skipOp(",") { items.append(try parseExpression()) }
                value = .list(items)
            }
            try expect(.blockEnd)
            return .set(target: target, value: value)
        case "macro":
            let name = try expectName()
            try expect(.op("("))
            var parameters: [(String, Expression?)] = []
            while !isOp(")") {
                let p = try expectName()
                parameters.append((p, skipOp("=") ? try parseExpression() : nil))
                if !skipOp(",") { break }
            }
            try expect(.op(")"))
            try expect(.blockEnd)
            let (body, stop) = try parseNodes(until: ["endmacro"])
            guard stop != nil else { throw error("missing {% endmacro %}") }
            try expect(.blockEnd)
            return .macro(name: name, parameters: parameters, body: body)
        default:
            throw error("unknown statement \"\(keyword)\"")
        }
    }

    // MARK: Expressions

    mutating func parseExpression() throws -> Expression {
        depth += 1
        defer { depth -= 1 }
        guard depth < Parser.maximumDepth else { throw TemplateError.limitExceeded(limit: "nesting depth", value: Parser.maximumDepth) }
        let value = try parseOr()
        if isName("if") {
            position += 1
            let condition = try parseOr()
            var otherwise: Expression? = nil
            if isName("else") { position += 1; otherwise = try parseExpression() }
            return .conditional(then: value, condition: condition, otherwise: otherwise)
        }
        return value
    }

    mutating func parseOr() throws -> Expression {
        var left = try parseAnd()
        while isName("or") { position += 1; left = .binary("or", left, try parseAnd()) }
        return left
    }

    mutating func parseAnd() throws -> Expression {
        var left = try parseNot()
        while isName("and") { position += 1; left = .binary("and", left, try parseNot()) }
        return left
    }

    mutating func parseNot() throws -> Expression {
        if isName("not") { position += 1; return .unary("not", try parseNot()) }
        return try parseComparison()
    }

    mutating func parseComparison() throws -> Expression {
        var left = try parseAdditive()
        while true {
            if case .op(let o) = current.kind, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                position += 1
                left = .binary(o, left, try parseAdditive())
            } else if isName("in") {
                position += 1
                left = .binary("in", left, try parseAdditive())
            } else if isName("not") && isName("in", offset: 1) {
                position += 2
                left = .binary("not in", left, try parseAdditive())
            } else {
                return left
            }
        }
    }

    mutating func parseAdditive() throws -> Expression {
        var left = try parseConcat()
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            position += 1
            left = .binary(o, left, try parseConcat())
        }
        return left
    }

    mutating func parseConcat() throws -> Expression {
        var left = try parseMultiplicative()
        while skipOp("~") { left = .binary("~", left, try parseMultiplicative()) }
        return left
    }

    mutating func parseMultiplicative() throws -> Expression {
        var left = try parsePower()
        while case .op(let o) = current.kind, ["*", "/", "//", "%"].contains(o) {
            position += 1
            left = .binary(o, left, try parsePower())
        }
        return left
    }

    mutating func parsePower() throws -> Expression {
        var left = try parseUnary()
        while skipOp("**") { left = .binary("**", left, try parseUnary()) }
        return left
    }

    mutating func parseUnary() throws -> Expression {
        if skipOp("-") { return try parsePostfix(.unary("-", try parseUnary())) }
        if skipOp("+") { return try parseUnary() }
        return try parsePostfix(try parsePrimary())
    }

    mutating func parsePrimary() throws -> Expression {
        let token = next()
        switch token.kind {
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .string(var s):
            while case .string(let more) = current.kind { s += more; position += 1 }  // adjacent literals
            return .literal(.string(s))
        case .int(let i): return .literal(.int(i))
        case .double(let d): return .literal(.double(d))
        case .op("("):
            let e = try parseExpression()
            if isOp(",") {
                var items = [e]
                while skipOp(",") { if isOp(")") { break }; items.append(try parseExpression()) }
                try expect(.op(")"))
                return .list(items)
            }
            try expect(.op(")"))
            return e
        case .op("["):
            var items: [Expression] = []
            while !isOp("]") {
                items.append(try parseExpression())
                if !skipOp(",") { break }
            }
            try expect(.op("]"))
            return .list(items)
        case .op("{"):
            var pairs: [(Expression, Expression)] = []
            while !isOp("}") {
                let k = try parseExpression()
                try expect(.op(":"))
                pairs.append((k, try parseExpression()))
                if !skipOp(",") { break }
            }
            try expect(.op("}"))
            return .dict(pairs)
        default:
            position -= 1
            throw error("unexpected \(describe(token.kind)) in expression")
        }
    }

    mutating func parseArguments() throws -> ([Expression], [(String, Expression)]) {
        var arguments: [Expression] = [], keywords: [(String, Expression)] = []
        while !isOp(")") {
            if case .name(let n) = current.kind, tokens[position + 1].kind == .op("=") {
                position += 2
                keywords.append((n, try parseExpression()))
            } else {
                arguments.append(try parseExpression())
            }
            if !skipOp(",") { break }
        }
        try expect(.op(")"))
        return (arguments, keywords)
    }

    mutating func parsePostfix(_ base: Expression) throws -> Expression {
        var e = base
        while true {
            if skipOp(".") {
                e = .attribute(e, try expectName())
            } else if skipOp("[") {
                var start: Expression? = nil, stop: Expression? = nil, step: Expression? = nil
                if !isOp(":") { start = try parseExpression() }
                if skipOp(":") {
                    if !isOp(":") && !isOp("]") { stop = try parseExpression() }
                    if skipOp(":") && !isOp("]") { step = try parseExpression() }
                    try expect(.op("]"))
                    e = .slice(e, start: start, stop: stop, step: step)
                } else {
                    try expect(.op("]"))
                    guard let index = start else { throw error("empty subscript") }
                    e = .subscriptOf(e, index)
                }
            } else if skipOp("(") {
                let (a, k) = try parseArguments()
                e = .call(e, arguments: a, keywords: k)
            } else if skipOp("|") {
                let name = try expectName()
                var a: [Expression] = [], k: [(String, Expression)] = []
                if skipOp("(") { (a, k) = try parseArguments() }
                e = .filter(e, name: name, arguments: a, keywords: k)
            } else if isName("is") {
                position += 1
                var negated = false
                if isName("not") { position += 1; negated = true }
                let name = try expectName()
                var a: [Expression] = []
                if skipOp("(") {
                    (a, _) = try parseArguments()
                } else if case .name(let n) = current.kind, !["and", "or", "else", "if", "in", "not", "is"].contains(n) {
                    a = [try parsePrimary()]
                } else if case .string = current.kind {
                    a = [try parsePrimary()]
                } else if case .int = current.kind {
                    a = [try parsePrimary()]
                }
                e = .test(e, name: name, arguments: a, negated: negated)
            } else {
                return e
            }
        }
    }
}
