// Jinja interpreter: walks the tree with a scope stack. Limits (untrusted templates): loop
// iterations, call depth and output size, each a `TemplateError.limitExceeded`.
import Foundation

/// Limits on what a template may do.
public struct TemplateLimits: Sendable {
    public var maximumLoopIterations = 100_000
    public var maximumCallDepth = 64
    public var maximumOutputBytes = 4 << 20
    public init() {}
}

final class Interpreter {
    var scopes: [[String: JinjaValue]]
    var output = ""
    var outputBytes = 0
    var iterations = 0
    var callDepth = 0
    let limits: TemplateLimits

    init(globals: [String: JinjaValue], limits: TemplateLimits) {
        scopes = [globals]
        self.limits = limits
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
        switch node {
        case .text(let t): try emit(t)
        case .output(let e): try emit(try evaluate(e).text)
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
                    scopes.append([:]); defer { scopes.removeLast() }
                    bind(targets, item)
                    return try evaluate(condition).truthy
                }
            }
            if items.isEmpty { try run(otherwise); return }
            for (i, item) in items.enumerated() {
                iterations += 1
                if iterations > limits.maximumLoopIterations { throw TemplateError.limitExceeded(limit: "loop iterations", value: limits.maximumLoopIterations) }
                scopes.append([:])
                defer { scopes.removeLast() }
                bind(targets, item)
                let n = items.count
                assign("loop", .dict([
                    ("index", .int(i + 1)), ("index0", .int(i)), ("first", .bool(i == 0)), ("last", .bool(i == n - 1)),
                    ("length", .int(n)), ("revindex", .int(n - i)), ("revindex0", .int(n - i - 1)),
                    ("previtem", i > 0 ? items[i - 1] : .undefined(name: "previtem")),
                    ("nextitem", i < n - 1 ? items[i + 1] : .undefined(name: "nextitem")),
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
            assign(name, .function(JinjaFunction { [unowned self] args, keywords in
                self.callDepth += 1
                defer { self.callDepth -= 1 }
                if self.callDepth > self.limits.maximumCallDepth { throw TemplateError.limitExceeded(limit: "call depth", value: self.limits.maximumCallDepth) }
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

    func evaluate(_ e: Expression) throws -> JinjaValue {
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map(evaluate))
        case .dict(let pairs):
            return .dict(try pairs.map { (try evaluate($0.0).text, try evaluate($0.1)) })
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
                return try Methods.call(b, method, args)
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
            let result = try Tests.apply(name, try evaluate(base), try arguments.map(evaluate))
            return .bool(negated ? !result : result)
        case .unary(let op, let operand):
            let v = try evaluate(operand)
            switch op {
            case "not": return .bool(!v.truthy)
            default:
                switch v {
                case .int(let i): return .int(-i)
                case .double(let d): return .double(-d)
                default: throw TemplateError.runtime("cannot negate a \(v.typeName)")
                }
            }
        case .binary(let op, let l, let r):
            if op == "and" { let a = try evaluate(l); return a.truthy ? try evaluate(r) : a }
            if op == "or" { let a = try evaluate(l); return a.truthy ? a : try evaluate(r) }
            return try Operators.binary(op, try evaluate(l), try evaluate(r))
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
        default: return .undefined(name: "[\(index.text)]")
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
    static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        switch op {
        case "==": return .bool(a == b)
        case "!=": return .bool(a != b)
        case "~": return .string(a.text + b.text)
        case "in", "not in":
            let found: Bool
            switch b {
            case .array(let items): found = items.contains(a)
            case .string(let s): found = s.contains(a.text)
            case .object(_, let values): found = values[a.text] != nil
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
            case let (.string(x), .string(y)): return .string(x + y)
            case let (.array(x), .array(y)): return .array(x + y)
            default: return try arithmetic(op, a, b)
            }
        case "*":
            if case .string(let s) = a, case .int(let n) = b { return .string(String(repeating: s, count: max(n, 0))) }
            if case .array(let s) = a, case .int(let n) = b { return .array(Array([[JinjaValue]](repeating: s, count: max(n, 0)).joined())) }
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

    static func arithmetic(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        if case .int(let x) = a, case .int(let y) = b {
            switch op {
            case "+": return .int(x &+ y)
            case "-": return .int(x &- y)
            case "*": return .int(x &* y)
            case "//", "%":
                guard y != 0 else { throw TemplateError.runtime("division by zero") }
                let q = Int((Double(x) / Double(y)).rounded(.down))
                return op == "//" ? .int(q) : .int(x - q * y)
            case "/":
                guard y != 0 else { throw TemplateError.runtime("division by zero") }
                return .double(Double(x) / Double(y))
            case "**": return .int(Int(pow(Double(x), Double(y))))
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
        case "//": return .double((x / y).rounded(.down))
        case "%": return .double(x - (x / y).rounded(.down) * y)
        case "**": return .double(pow(x, y))
        default: throw TemplateError.runtime("unknown operator \(op)")
        }
    }
}
