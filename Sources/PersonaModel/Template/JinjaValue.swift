// Values of our Jinja interpreter: Python-like semantics as Jinja2 gives them (truthiness,
// comparison, string conversion with Python's repr for lists and dicts).
import Foundation

/// A namespace() object: the one mutable value (`{% set ns.x = … %}`).
public final class JinjaNamespace {
    var keys: [String] = []
    var values: [String: JinjaValue] = [:]
    func set(_ key: String, _ value: JinjaValue) {
        if values[key] == nil { keys.append(key) }
        values[key] = value
    }
}

/// A callable (builtin or macro): positional and keyword arguments.
public struct JinjaFunction {
    let call: ([JinjaValue], [(String, JinjaValue)]) throws -> JinjaValue
}

/// A Jinja value.
public indirect enum JinjaValue {
    case undefined(name: String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    /// A dict: keys in insertion order.
    case object(keys: [String], values: [String: JinjaValue])
    case namespace(JinjaNamespace)
    case function(JinjaFunction)

    public static func dict(_ pairs: [(String, JinjaValue)]) -> JinjaValue {
        var keys: [String] = [], values: [String: JinjaValue] = [:]
        for (k, v) in pairs { if values[k] == nil { keys.append(k) }; values[k] = v }
        return .object(keys: keys, values: values)
    }

    public var isUndefined: Bool { if case .undefined = self { return true }; return false }
    public var isNone: Bool { if case .none = self { return true }; return false }

    /// Python truthiness.
    public var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let k, _): return !k.isEmpty
        case .namespace, .function: return true
        }
    }

    /// The text `{{ value }}` prints.
    public var text: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return repr
        }
    }

    /// Python's repr (for values inside lists and dicts).
    public var repr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return JinjaValue.formatDouble(d)
        case .string(let s): return JinjaValue.pythonStringRepr(s)
        case .array(let a): return "[" + a.map(\.repr).joined(separator: ", ") + "]"
        case .object(let keys, let values):
            return "{" + keys.map { JinjaValue.pythonStringRepr($0) + ": " + (values[$0]?.repr ?? "") }.joined(separator: ", ") + "}"
        case .namespace: return "<Namespace>"
        case .function: return "<function>"
        }
    }

    /// `text`, refusing instead of building a string longer than `limit` bytes: a list repeated or
    /// doubled in a loop holds references to far more text than fits in memory, so its repr is
    /// written piece by piece and stopped at the limit (work O(limit), not O(repr)).
    func text(limit: Int) throws -> String {
        if case .string(let s) = self {
            guard s.utf8.count <= limit else { throw TemplateError.limitExceeded(limit: "output size", value: limit) }
            return s
        }
        var out = ""
        try writeRepr(into: &out, limit: limit, depth: 0)
        return out
    }

    /// Appends `repr` to `out`, throwing as soon as `out` passes `limit` bytes or the nesting passes 64.
    func writeRepr(into out: inout String, limit: Int, depth: Int) throws {
        guard depth < 64 else { throw TemplateError.limitExceeded(limit: "value nesting depth", value: 64) }
        switch self {
        case .array(let a):
            out += "["
            for (i, item) in a.enumerated() {
                if i > 0 { out += ", " }
                try item.writeRepr(into: &out, limit: limit, depth: depth + 1)
            }
            out += "]"
        case .object(let keys, let values):
            out += "{"
            for (i, key) in keys.enumerated() {
                if i > 0 { out += ", " }
                out += JinjaValue.pythonStringRepr(key) + ": "
                try (values[key] ?? .undefined(name: key)).writeRepr(into: &out, limit: limit, depth: depth + 1)
            }
            out += "}"
        case .string(let s):
            guard s.utf8.count <= limit else { throw TemplateError.limitExceeded(limit: "output size", value: limit) }
            out += repr
        default: out += repr
        }
        guard out.utf8.count <= limit else { throw TemplateError.limitExceeded(limit: "output size", value: limit) }
    }

    static func formatDouble(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        if d == d.rounded() && abs(d) < 1e16 { return String(format: "%.1f", d) }
        return "\(d)"
    }

    static func pythonStringRepr(_ s: String) -> String {
        // Most strings need no escapes: one byte scan, not a walk over the scalars.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "'") || $0 == UInt8(ascii: "\"") }) {
            return "'" + s + "'"
        }
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for ch in s.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(ch) == quote {
                    out += "\\" + String(quote)
                } else if ch.value < 0x20 || ch.value == 0x7F {
                    out += String(format: "\\x%02x", ch.value)
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
        }
        out.append(quote)
        return out
    }

    /// The name of the value's type, for error messages.
    public var typeName: String {
        switch self {
        case .undefined: return "undefined"
        case .none: return "none"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "string"
        case .array: return "list"
        case .object: return "dict"
        case .namespace: return "namespace"
        case .function: return "function"
        }
    }

    /// Builds a value from JSON-like Swift values (String, Int, Double, Bool, arrays, dictionaries).
    public static func from(_ any: Any?) -> JinjaValue {
        switch any {
        case nil: return .none
        case let v as JinjaValue: return v
        case let b as Bool: return .bool(b)
        case let i as Int: return .int(i)
        case let d as Double: return .double(d)
        case let s as String: return .string(s)
        case let a as [Any]: return .array(a.map { from($0) })
        case let d as [String: Any]: return .dict(d.keys.sorted().map { ($0, from(d[$0])) })
        default: return .none
        }
    }
}

extension JinjaValue: Equatable {
    /// Python equality (1 == 1.0, no identity for namespaces).
    public static func == (a: JinjaValue, b: JinjaValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.int(x), .double(y)), let (.double(y), .int(x)): return Double(x) == y
        case let (.double(x), .double(y)): return x == y
        case let (.bool(x), .int(y)), let (.int(y), .bool(x)): return (x ? 1 : 0) == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(kx, vx), .object(ky, vy)): return Set(kx) == Set(ky) && kx.allSatisfy { vx[$0] == vy[$0] }
        case let (.namespace(x), .namespace(y)): return x === y
        default: return false
        }
    }
}
