// Jinja interpreter: walks the tree with a scope stack. Templates come from model files (untrusted):
// every counted limit below ends a hostile template with a `TemplateError.limitExceeded` (the clock is
// only a generous backstop),
// integer arithmetic is overflow-checked (Python has big integers, we have 64 bits: an overflow is a
// clear error, never a trap), and a string or list that would pass the output limit is refused before
// it is built.
import Foundation

/// Limits on what a template may do.
public struct TemplateLimits: Sendable {
    public var maximumLoopIterations = 100_000
    public var maximumCallDepth = 64
    /// Output size; also the largest string any expression may produce.
    public var maximumOutputBytes = 4 << 20
    /// The longest list any expression may produce.
    public var maximumListLength = 1 << 20
    /// Statements executed plus macros called: bounds templates whose work grows without output
    /// (a macro calling itself twice per level is 2^64 calls within the call-depth limit).
    public var maximumSteps = 250_000
    /// Wall-clock backstop, checked with the steps. The counted limits above are what end hostile
    /// templates, the same way on every machine; this only bounds a cost they do not count (each
    /// counted operation may copy a string up to the output limit). It is generous so that a long
    /// legitimate conversation never fails because the machine is loaded: a render that reaches it
    /// is far outside anything a chat template does.
    public var maximumSeconds = 30.0
    public init() {}
}

final class Interpreter {
    var scopes: [[String: JinjaValue]]
    var output = ""
    var outputBytes = 0
    var iterations = 0
    var callDepth = 0
    var steps = 0
    let limits: TemplateLimits
    let deadline: UInt64

    init(globals: [String: JinjaValue], limits: TemplateLimits) {
        scopes = [globals]
        self.limits = limits
        let budget = limits.maximumSeconds.isFinite ? max(0, min(limits.maximumSeconds, 1e6)) : 1e6
        deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(budget * 1e9)
    }

    /// Counts one step (a statement or a call) against the step and time limits.
    func step() throws {
        steps += 1
        if steps > limits.maximumSteps { throw TemplateError.limitExceeded(limit: "steps", value: limits.maximumSteps) }
        if steps & 63 == 0, DispatchTime.now().uptimeNanoseconds > deadline {
            throw TemplateError.limitExceeded(limit: "render time (ms)", value: Int(limits.maximumSeconds * 1000))
        }
    }

    /// A value's printed text, refused when it passes the output limit.
    func text(_ v: JinjaValue) throws -> String { try v.text(limit: limits.maximumOutputBytes) }

    /// Refuses a string or list past the size limits (the last line of defence: the operators that
    /// can grow a value fast check their result's size before building it).
    func bounded(_ v: JinjaValue) throws -> JinjaValue {
        switch v {
        case .string(let s) where s.utf8.count > limits.maximumOutputBytes:
            throw TemplateError.limitExceeded(limit: "output size", value: limits.maximumOutputBytes)
        case .array(let a) where a.count > limits.maximumListLength:
            throw TemplateError.limitExceeded(limit: "list length", value: limits.maximumListLength)
        default: return v
        }
    }

    func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return .undefined(name: name)
    }

    func assign(_ name: String, _ value: JinjaValue) { scopes[scopes.count - 1][name] = value }

    func emit(_ s: String) throws {
        outputBytes += s.utf8.count
        if outputBytes > limits.maximumOutputBytes { throw TemplateError.limitExceeded(limit: "output size", value: limits.maximumOutputBytes) }
        output += s
    }

    func run(_ nodes: [Node]) throws {
        for node in nodes { try execute(node) }
    }

    func execute(_ node: Node) throws {
        try step()
        switch node {
        case .text(let t): try emit(t)
        case .output(let e): try emit(try text(try evaluate(e)))
        case .ifBlock(let branches, let otherwise):
            for (condition, body) in branches where try evaluate(condition).truthy {
                try run(body)
                return
            }
            try run(otherwise)
        case .forLoop(let targets, let iterable, let condition, let body, let otherwise):
            var items = try iterate(try evaluate(iterable))
            if let condition {
                items = try items.filter { item in
                    try step()  // each test is work without output: counted like an iteration
                    scopes.append([:]); defer { scopes.removeLast() }
                    bind(targets, item)
                    return try evaluate(condition).truthy
                }
            }
            if items.isEmpty { try run(otherwise); return }
            for (i, item) in items.enumerated() {
                iterations += 1
                if iterations > limits.maximumLoopIterations {
                    throw TemplateError.limitExceeded(limit: "loop iterations", value: limits.maximumLoopIterations)
                }
                try step()  // an empty body runs no statement: the iteration itself is the step
                scopes.append([:])
                defer { scopes.removeLast() }
                bind(targets, item)
                let n = items.count
                assign(
                    "loop",
                    .dict([
                        ("index", .int(i + 1)), ("index0", .int(i)), ("first", .bool(i == 0)), ("last", .bool(i == n - 1)),
                        ("length", .int(n)), ("revindex", .int(n - i)), ("revindex0", .int(n - i - 1)),
                        ("previtem", i > 0 ? items[i - 1] : .undefined(name: "previtem")),
                        ("nextitem", i < n - 1 ? items[i + 1] : .undefined(name: "nextitem"))
                    ]))
                try run(body)
            }
        case .set(let target, let valueExpression):
            let value = try evaluate(valueExpression)
            switch target {
            case .name(let n): assign(n, value)
            case .attribute(.name(let n), let attribute):
                guard case .namespace(let ns) = lookup(n) else { throw TemplateError.runtime("cannot set attribute \(attribute) of \(n): not a namespace") }
                ns.set(attribute, value)
            default: throw TemplateError.runtime("cannot assign to this target")
            }
        case .setBlock(let name, let body):
            let saved = output, savedBytes = outputBytes
            output = ""
            try run(body)
            let captured = output
            output = saved; outputBytes = savedBytes
            assign(name, .string(captured))
        case .macro(let name, let parameters, let body):
            let defaults = try parameters.map { ($0.0, try $0.1.map(evaluate)) }
            assign(
                name,
                .function(
                    JinjaFunction { [unowned self] args, keywords in
                        try self.step()
                        self.callDepth += 1
                        defer { self.callDepth -= 1 }
                        if self.callDepth > self.limits.maximumCallDepth {
                            throw TemplateError.limitExceeded(limit: "call depth", value: self.limits.maximumCallDepth)
                        }
                        var scope: [String: JinjaValue] = [:]
                        for (i, (p, d)) in defaults.enumerated() {
                            scope[p] = i < args.count ? args[i] : (keywords.first { $0.0 == p }?.1 ?? d ?? .undefined(name: p))
                        }
                        let saved = self.output, savedBytes = self.outputBytes
                        self.output = ""
                        self.scopes.append(scope)
                        defer { self.scopes.removeLast() }
                        try self.run(body)
                        let result = self.output
                        self.output = saved; self.outputBytes = savedBytes
                        return .string(result)
                    }))
        }
    }

    func bind(_ targets: [String], _ item: JinjaValue) {
        if targets.count == 1 { assign(targets[0], item); return }
        let parts: [JinjaValue]
        if case .array(let a) = item { parts = a } else { parts = [item] }
        for (i, t) in targets.enumerated() { assign(t, i < parts.count ? parts[i] : .undefined(name: t)) }
    }

    func iterate(_ value: JinjaValue) throws -> [JinjaValue] {
        switch value {
        case .array(let a): return a
        case .object(let keys, _): return keys.map { .string($0) }
        case .string(let s): return s.map { .string(String($0)) }
        case .undefined, .none: return []
        default: throw TemplateError.runtime("cannot iterate over a \(value.typeName)")
        }
    }

    // MARK: Expressions

    func evaluate(_ e: Expression) throws -> JinjaValue { try bounded(try evaluateUnbounded(e)) }

    func evaluateUnbounded(_ e: Expression) throws -> JinjaValue {
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map(evaluate))
        case .dict(let pairs):
            return .dict(try pairs.map { (try text(try evaluate($0.0)), try evaluate($0.1)) })
        case .attribute(let base, let name):
            let b = try evaluate(base)
            return try attribute(b, name)
        case .subscriptOf(let base, let index):
            return try subscriptValue(try evaluate(base), try evaluate(index))
        case .slice(let base, let start, let stop, let step):
            return try slice(try evaluate(base), try start.map(evaluate), try stop.map(evaluate), try step.map(evaluate))
        case .call(let callee, let arguments, let keywords):
            let args = try arguments.map(evaluate)
            let kws = try keywords.map { ($0.0, try evaluate($0.1)) }
            if case .attribute(let base, let method) = callee {
                let b = try evaluate(base)
                if case .object(_, let values) = b, case .function(let f)? = values[method] { return try f.call(args, kws) }
                return try Methods.call(b, method, args, limits: limits)
            }
            let f = try evaluate(callee)
            guard case .function(let fn) = f else {
                if case .name(let n) = callee { throw TemplateError.runtime("\(n) is not callable (\(f.typeName))") }
                throw TemplateError.runtime("a \(f.typeName) is not callable")
            }
            return try fn.call(args, kws)
        case .filter(let base, let name, let arguments, let keywords):
            let value = try evaluate(base)
            return try Filters.apply(name, value, try arguments.map(evaluate), try keywords.map { ($0.0, try evaluate($0.1)) }, interpreter: self)
        case .test(let base, let name, let arguments, let negated):
            let result = try Tests.apply(name, try evaluate(base), try arguments.map(evaluate), limits: limits)
            return .bool(negated ? !result : result)
        case .unary(let op, let operand):
            let v = try evaluate(operand)
            switch op {
            case "not": return .bool(!v.truthy)
            default:
                switch v {
                case .int(let i):
                    guard i != .min else { throw TemplateError.runtime("integer overflow: -(\(i)) does not fit in 64 bits") }
                    return .int(-i)
                case .double(let d): return .double(-d)
                default: throw TemplateError.runtime("cannot negate a \(v.typeName)")
                }
            }
        case .binary(let op, let l, let r):
            if op == "and" { let a = try evaluate(l); return a.truthy ? try evaluate(r) : a }
            if op == "or" { let a = try evaluate(l); return a.truthy ? a : try evaluate(r) }
            return try Operators.binary(op, try evaluate(l), try evaluate(r), limits: limits)
        case .conditional(let then, let condition, let otherwise):
            if try evaluate(condition).truthy { return try evaluate(then) }
            return try otherwise.map(evaluate) ?? .undefined(name: "")
        }
    }

    func attribute(_ b: JinjaValue, _ name: String) throws -> JinjaValue {
        switch b {
        case .object(_, let values): return values[name] ?? .undefined(name: name)
        case .namespace(let ns): return ns.values[name] ?? .undefined(name: name)
        case .undefined(let n): throw TemplateError.runtime("\(n.isEmpty ? "value" : n) is undefined (reading .\(name))")
        default: return .undefined(name: name)
        }
    }

    func subscriptValue(_ b: JinjaValue, _ index: JinjaValue) throws -> JinjaValue {
        switch (b, index) {
        case let (.array(a), .int(i)):
            let k = i < 0 ? a.count + i : i
            return k >= 0 && k < a.count ? a[k] : .undefined(name: "[\(i)]")
        case let (.string(s), .int(i)):
            let chars = Array(s)
            let k = i < 0 ? chars.count + i : i
            return k >= 0 && k < chars.count ? .string(String(chars[k])) : .undefined(name: "[\(i)]")
        case let (.object, .string(key)), let (.namespace, .string(key)): return try attribute(b, key)
        case (.undefined(let n), _): throw TemplateError.runtime("\(n.isEmpty ? "value" : n) is undefined (subscript)")
        default: return .undefined(name: "[\(index.typeName)]")
        }
    }

    func slice(_ b: JinjaValue, _ start: JinjaValue?, _ stop: JinjaValue?, _ step: JinjaValue?) throws -> JinjaValue {
        func int(_ v: JinjaValue?) throws -> Int? {
            guard let v, !v.isNone else { return nil }
            guard case .int(let i) = v else { throw TemplateError.runtime("slice indices must be integers") }
            return i
        }
        let stepValue = try int(step) ?? 1
        guard stepValue != 0 else { throw TemplateError.runtime("slice step cannot be zero") }
        func indices(_ n: Int) throws -> [Int] {
            func clamp(_ v: Int?, _ dflt: Int) -> Int {
                guard var x = v else { return dflt }
                if x < 0 { x += n }
                return stepValue > 0 ? min(max(x, 0), n) : min(max(x, -1), n - 1)
            }
            let s = clamp(try int(start), stepValue > 0 ? 0 : n - 1)
            let e = clamp(try int(stop), stepValue > 0 ? n : -1)
            return Array(stride(from: s, to: e, by: stepValue))
        }
        switch b {
        case .array(let a): return .array(try indices(a.count).map { a[$0] })
        case .string(let s):
            let chars = Array(s)
            return .string(String(try indices(chars.count).map { chars[$0] }))
        default: throw TemplateError.runtime("cannot slice a \(b.typeName)")
        }
    }
}

/// Binary operators with Python semantics.
enum Operators {
    static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue, limits: TemplateLimits) throws -> JinjaValue {
        let maximumBytes = limits.maximumOutputBytes
        /// Refuses a result of `count` units before it is built.
        func checkSize(_ count: (partialValue: Int, overflow: Bool), list: Bool = false) throws {
            let limit = list ? limits.maximumListLength : maximumBytes
            guard !count.overflow, count.partialValue <= limit else {
                throw TemplateError.limitExceeded(limit: list ? "list length" : "output size", value: limit)
            }
        }
        switch op {
        case "==": return .bool(a == b)
        case "!=": return .bool(a != b)
        case "~":
            let x = try a.text(limit: maximumBytes), y = try b.text(limit: maximumBytes)
            try checkSize(x.utf8.count.addingReportingOverflow(y.utf8.count))
            return .string(x + y)
        case "in", "not in":
            let found: Bool
            switch b {
            case .array(let items): found = items.contains(a)
            case .string(let s): found = s.contains(try a.text(limit: maximumBytes))
            case .object(_, let values): found = values[try a.text(limit: maximumBytes)] != nil
            case .undefined, .none: found = false
            default: throw TemplateError.runtime("'in' needs a list, string or dict, not a \(b.typeName)")
            }
            return .bool(op == "in" ? found : !found)
        case "<", ">", "<=", ">=":
            let order: ComparisonResult
            switch (a, b) {
            case let (.string(x), .string(y)): order = x < y ? .orderedAscending : x == y ? .orderedSame : .orderedDescending
            default:
                guard let x = number(a), let y = number(b) else { throw TemplateError.runtime("cannot compare \(a.typeName) and \(b.typeName)") }
                order = x < y ? .orderedAscending : x == y ? .orderedSame : .orderedDescending
            }
            switch op {
            case "<": return .bool(order == .orderedAscending)
            case ">": return .bool(order == .orderedDescending)
            case "<=": return .bool(order != .orderedDescending)
            default: return .bool(order != .orderedAscending)
            }
        case "+":
            switch (a, b) {
            case let (.string(x), .string(y)):
                try checkSize(x.utf8.count.addingReportingOverflow(y.utf8.count))
                return .string(x + y)
            case let (.array(x), .array(y)):
                try checkSize(x.count.addingReportingOverflow(y.count), list: true)
                return .array(x + y)
            default: return try arithmetic(op, a, b)
            }
        case "*":
            // An empty operand or a count of 0 or less gives an empty result at once: building it
            // would loop `n` times (`'' * 10 ** 12`) or allocate `n` empty slots (`[] * 10 ** 12`).
            if case .string(let s) = a, case .int(let n) = b {
                if s.isEmpty || n <= 0 { return .string("") }
                try checkSize(s.utf8.count.multipliedReportingOverflow(by: max(n, 0)))
                return .string(String(repeating: s, count: max(n, 0)))
            }
            if case .array(let s) = a, case .int(let n) = b {
                if s.isEmpty || n <= 0 { return .array([]) }
                try checkSize(s.count.multipliedReportingOverflow(by: max(n, 0)), list: true)
                return .array(Array([[JinjaValue]](repeating: s, count: max(n, 0)).joined()))
            }
            return try arithmetic(op, a, b)
        default: return try arithmetic(op, a, b)
        }
    }

    static func number(_ v: JinjaValue) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    /// An integer result, or an error naming the operation that overflowed 64 bits.
    static func checked(_ r: (partialValue: Int, overflow: Bool), _ x: Int, _ op: String, _ y: Int) throws -> Int {
        guard !r.overflow else { throw TemplateError.runtime("integer overflow: \(x) \(op) \(y) does not fit in 64 bits") }
        return r.partialValue
    }

    static func arithmetic(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        if case .int(let x) = a, case .int(let y) = b {
            switch op {
            case "+": return .int(try checked(x.addingReportingOverflow(y), x, op, y))
            case "-": return .int(try checked(x.subtractingReportingOverflow(y), x, op, y))
            case "*": return .int(try checked(x.multipliedReportingOverflow(by: y), x, op, y))
            case "//", "%":
                // Python floors (the remainder takes the divisor's sign); only Int.min // -1 overflows.
                guard y != 0 else { throw TemplateError.runtime("integer division or modulo by zero: \(x) \(op) 0") }
                if y == -1 { return op == "//" ? .int(try checked((0).subtractingReportingOverflow(x), x, op, y)) : .int(0) }
                var q = x / y, r = x % y
                if r != 0 && (r < 0) != (y < 0) { q -= 1; r += y }
                return op == "//" ? .int(q) : .int(r)
            case "/":
                guard y != 0 else { throw TemplateError.runtime("division by zero: \(x) / 0") }
                return .double(Double(x) / Double(y))
            case "**":
                if y < 0 { return .double(pow(Double(x), Double(y))) }
                // Exponentiation by squaring: at most 63 squarings, each checked.
                var result = 1, base = x, e = y
                while e > 0 {
                    if e & 1 == 1 { result = try checked(result.multipliedReportingOverflow(by: base), x, op, y) }
                    e >>= 1
                    if e > 0 { base = try checked(base.multipliedReportingOverflow(by: base), x, op, y) }
                }
                return .int(result)
            default: break
            }
        }
        guard let x = number(a), let y = number(b) else {
            throw TemplateError.runtime("unsupported operand types for \(op): \(a.typeName) and \(b.typeName)")
        }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/":
            guard y != 0 else { throw TemplateError.runtime("division by zero") }
            return .double(x / y)
        case "//", "%":
            guard y != 0 else { throw TemplateError.runtime("float division or modulo by zero: \(x) \(op) 0") }
            return op == "//" ? .double((x / y).rounded(.down)) : .double(x - (x / y).rounded(.down) * y)
        case "**": return .double(pow(x, y))
        default: throw TemplateError.runtime("unknown operator \(op)")
        }
    }
}
