// Jinja filters, tests and the string/dict methods chat templates call. `tojson` follows
// transformers' definition: json.dumps(x, ensure_ascii=False) with Python's default separators.
import Foundation

enum Filters {
    static func apply(_ name: String, _ v: JinjaValue, _ args: [JinjaValue], _ kw: [(String, JinjaValue)], interpreter: Interpreter) throws -> JinjaValue {
        func arg(_ i: Int, _ key: String) -> JinjaValue? { i < args.count ? args[i] : kw.first { $0.0 == key }?.1 }
        switch name {
        case "tojson":
            var indent: Int? = nil
            if case .int(let n)? = arg(0, "indent") { indent = n }
            return .string(try JSONText.encode(v, indent: indent, level: 0))
        case "trim": return .string(v.text.trimmingCharacters(in: .whitespacesAndNewlines))
        case "length", "count":
            switch v {
            case .string(let s): return .int(s.count)
            case .array(let a): return .int(a.count)
            case .object(let k, _): return .int(k.count)
            case .undefined: return .int(0)
            default: throw TemplateError.runtime("\(v.typeName) has no length")
            }
        case "upper": return .string(v.text.uppercased())
        case "lower": return .string(v.text.lowercased())
        case "title": return .string(v.text.capitalized)
        case "capitalize":
            let s = v.text
            return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "default", "d":
            let fallback = arg(0, "default_value") ?? .string("")
            let boolean = arg(1, "boolean")?.truthy ?? false
            if v.isUndefined || (boolean && !v.truthy) { return fallback }
            return v
        case "join":
            let separator = arg(0, "d")?.text ?? ""
            return .string(try interpreter.iterate(v).map { item in
                if case .string(let attr)? = arg(1, "attribute") { return (try? interpreter.attribute(item, attr).text) ?? "" }
                return item.text
            }.joined(separator: separator))
        case "first": return try interpreter.iterate(v).first ?? .undefined(name: "first")
        case "last": return try interpreter.iterate(v).last ?? .undefined(name: "last")
        case "list": return .array(try interpreter.iterate(v))
        case "reverse":
            if case .string(let s) = v { return .string(String(s.reversed())) }
            return .array(try interpreter.iterate(v).reversed())
        case "string": return .string(v.text)
        case "int":
            switch v {
            case .int: return v
            case .double(let d): return .int(Int(d))
            case .string(let s): return .int(Int(s.trimmingCharacters(in: .whitespaces)) ?? Int(Double(s) ?? 0))
            case .bool(let b): return .int(b ? 1 : 0)
            default: return .int(0)
            }
        case "float":
            switch v {
            case .int(let i): return .double(Double(i))
            case .double: return v
            case .string(let s): return .double(Double(s.trimmingCharacters(in: .whitespaces)) ?? 0)
            default: return .double(0)
            }
        case "abs":
            if case .int(let i) = v { return .int(abs(i)) }
            if case .double(let d) = v { return .double(abs(d)) }
            throw TemplateError.runtime("abs of a \(v.typeName)")
        case "round":
            var digits = 0
            if case .int(let n)? = arg(0, "precision") { digits = n }
            guard let x = Operators.number(v) else { throw TemplateError.runtime("round of a \(v.typeName)") }
            let scale = pow(10.0, Double(digits))
            return .double((x * scale).rounded(.toNearestOrEven) / scale)
        case "replace":
            guard let old = arg(0, "old")?.text, let new = arg(1, "new")?.text else { throw TemplateError.runtime("replace needs two arguments") }
            return .string(v.text.replacingOccurrences(of: old, with: new))
        case "items":
            guard case .object(let keys, let values) = v else { return .array([]) }
            return .array(keys.map { .array([.string($0), values[$0] ?? .none]) })
        case "unique":
            var seen: [JinjaValue] = []
            for item in try interpreter.iterate(v) where !seen.contains(item) { seen.append(item) }
            return .array(seen)
        case "indent":
            var width = 4
            if case .int(let n)? = arg(0, "width") { width = n }
            let first = arg(1, "first")?.truthy ?? false
            let pad = String(repeating: " ", count: width)
            let lines = v.text.components(separatedBy: "\n")
            return .string(lines.enumerated().map { i, l in (i == 0 && !first) || l.isEmpty ? l : pad + l }.joined(separator: "\n"))
        case "safe", "e", "escape", "forceescape": return v
        case "map":
            let items = try interpreter.iterate(v)
            if case .string(let attr)? = kw.first(where: { $0.0 == "attribute" })?.1 {
                return .array(try items.map { try interpreter.attribute($0, attr) })
            }
            guard case .string(let filter)? = args.first else { throw TemplateError.runtime("map needs a filter name or attribute=") }
            return .array(try items.map { try apply(filter, $0, Array(args.dropFirst()), [], interpreter: interpreter) })
        case "select", "reject":
            let items = try interpreter.iterate(v)
            let test = args.first?.text ?? "truthy"
            return .array(try items.filter { item in
                let ok = test == "truthy" ? item.truthy : try Tests.apply(test, item, Array(args.dropFirst()))
                return name == "select" ? ok : !ok
            })
        case "selectattr", "rejectattr":
            guard let attr = args.first?.text else { throw TemplateError.runtime("\(name) needs an attribute name") }
            let items = try interpreter.iterate(v)
            return .array(try items.filter { item in
                let value = try interpreter.attribute(item, attr)
                let ok = args.count > 1 ? try Tests.apply(args[1].text, value, Array(args.dropFirst(2))) : value.truthy
                return name == "selectattr" ? ok : !ok
            })
        case "dictsort":
            guard case .object(let keys, let values) = v else { return .array([]) }
            return .array(keys.sorted().map { .array([.string($0), values[$0] ?? .none]) })
        default:
            throw TemplateError.runtime("unknown filter \"\(name)\"")
        }
    }
}

enum Tests {
    static func apply(_ name: String, _ v: JinjaValue, _ args: [JinjaValue]) throws -> Bool {
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": return v.isNone
        case "string": if case .string = v { return true }; return false
        case "number": switch v { case .int, .double: return true; default: return false }
        case "integer": if case .int = v { return true }; return false
        case "float": if case .double = v { return true }; return false
        case "boolean": if case .bool = v { return true }; return false
        case "true": if case .bool(true) = v { return true }; return false
        case "false": if case .bool(false) = v { return true }; return false
        case "mapping": switch v { case .object, .namespace: return true; default: return false }
        case "sequence", "iterable": switch v { case .array, .string, .object: return true; default: return false }
        case "callable": if case .function = v { return true }; return false
        case "equalto", "eq", "==", "sameas": return v == (args.first ?? .none)
        case "ne", "!=": return v != (args.first ?? .none)
        case "odd", "even":
            guard case .int(let i) = v else { throw TemplateError.runtime("\(name) test needs an integer") }
            return (i % 2 != 0) == (name == "odd")
        case "divisibleby":
            guard case .int(let i) = v, case .int(let d)? = args.first, d != 0 else { throw TemplateError.runtime("divisibleby needs integers") }
            return i % d == 0
        case "in": return try Operators.binary("in", v, args.first ?? .none).truthy
        case "lower": return v.text == v.text.lowercased()
        case "upper": return v.text == v.text.uppercased()
        default: throw TemplateError.runtime("unknown test \"\(name)\"")
        }
    }
}

enum Methods {
    static func call(_ v: JinjaValue, _ name: String, _ args: [JinjaValue]) throws -> JinjaValue {
        switch (v, name) {
        case (.string(let s), "strip"): return .string(strip(s, args.first?.text, leading: true, trailing: true))
        case (.string(let s), "lstrip"): return .string(strip(s, args.first?.text, leading: true, trailing: false))
        case (.string(let s), "rstrip"): return .string(strip(s, args.first?.text, leading: false, trailing: true))
        case (.string(let s), "upper"): return .string(s.uppercased())
        case (.string(let s), "lower"): return .string(s.lowercased())
        case (.string(let s), "title"): return .string(s.capitalized)
        case (.string(let s), "capitalize"): return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case (.string(let s), "startswith"): return .bool(s.hasPrefix(args.first?.text ?? ""))
        case (.string(let s), "endswith"): return .bool(s.hasSuffix(args.first?.text ?? ""))
        case (.string(let s), "replace"):
            guard args.count >= 2 else { throw TemplateError.runtime("replace needs two arguments") }
            return .string(s.replacingOccurrences(of: args[0].text, with: args[1].text))
        case (.string(let s), "split"):
            if let sep = args.first, !sep.isNone {
                return .array(s.components(separatedBy: sep.text).map { .string($0) })
            }
            return .array(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
        case (.string(let s), "join"):
            guard case .array(let items)? = args.first else { throw TemplateError.runtime("join needs a list") }
            return .string(items.map(\.text).joined(separator: s))
        case (.object(let keys, let values), "items"): return .array(keys.map { .array([.string($0), values[$0] ?? .none]) })
        case (.object(let keys, _), "keys"): return .array(keys.map { .string($0) })
        case (.object(let keys, let values), "values"): return .array(keys.map { values[$0] ?? .none })
        case (.object(_, let values), "get"): return values[args.first?.text ?? ""] ?? (args.count > 1 ? args[1] : .none)
        case (.undefined(let n), _): throw TemplateError.runtime("\(n.isEmpty ? "value" : n) is undefined (calling .\(name)())")
        default: throw TemplateError.runtime("\(v.typeName) has no method \(name)()")
        }
    }

    static func strip(_ s: String, _ chars: String?, leading: Bool, trailing: Bool) -> String {
        let set = chars.map { CharacterSet(charactersIn: $0) } ?? .whitespacesAndNewlines
        var scalars = Substring(s).unicodeScalars[...]
        if leading { while let f = scalars.first, set.contains(f) { scalars.removeFirst() } }
        if trailing { while let l = scalars.last, set.contains(l) { scalars.removeLast() } }
        return String(String.UnicodeScalarView(scalars))
    }
}

/// JSON text as Python's json.dumps(ensure_ascii=False) writes it.
enum JSONText {
    static func encode(_ v: JinjaValue, indent: Int?, level: Int) throws -> String {
        guard level < 64 else { throw TemplateError.limitExceeded(limit: "tojson depth", value: 64) }
        let newline = indent.map { "\n" + String(repeating: " ", count: $0 * (level + 1)) } ?? ""
        let closing = indent.map { "\n" + String(repeating: " ", count: $0 * level) } ?? ""
        let itemSeparator = indent == nil ? ", " : ","
        switch v {
        case .undefined, .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? JinjaValue.formatDouble(d) : (d.isNaN ? "NaN" : d > 0 ? "Infinity" : "-Infinity")
        case .string(let s): return quote(s)
        case .array(let a):
            if a.isEmpty { return "[]" }
            return "[" + newline + (try a.map { try encode($0, indent: indent, level: level + 1) }).joined(separator: itemSeparator + newline) + closing + "]"
        case .object(let keys, let values):
            if keys.isEmpty { return "{}" }
            return "{" + newline + (try keys.map { quote($0) + ": " + (try encode(values[$0] ?? .none, indent: indent, level: level + 1)) }).joined(separator: itemSeparator + newline) + closing + "}"
        case .namespace(let ns): return try encode(.object(keys: ns.keys, values: ns.values), indent: indent, level: level)
        case .function: throw TemplateError.runtime("cannot convert a function to JSON")
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
