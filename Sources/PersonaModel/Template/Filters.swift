// Jinja filters, tests and the string/dict methods chat templates call. `tojson` follows
// transformers' definition: json.dumps(x, ensure_ascii=False) with Python's default separators.
import Foundation

enum Filters {
    static func apply(_ name: String, _ v: JinjaValue, _ args: [JinjaValue], _ kw: [(String, JinjaValue)], interpreter: Interpreter) throws -> JinjaValue {
        func arg(_ i: Int, _ key: String) -> JinjaValue? { i < args.count ? args[i] : kw.first { $0.0 == key }?.1 }
        let limit = interpreter.limits.maximumOutputBytes
        func t(_ x: JinjaValue) throws -> String { try x.text(limit: limit) }
        func t(_ x: JinjaValue?) throws -> String? { try x.map(t) }
        switch name {
        case "tojson":
            var indent: Int? = nil
            if case .int(let n)? = arg(0, "indent") {
                guard n >= 0 else { throw TemplateError.runtime("tojson: indent must be 0 or more, not \(n)") }
                indent = n
            }
            var out = ""
            try JSONText.write(v, indent: indent, level: 0, into: &out, limit: limit)
            return .string(out)
        case "trim": return .string(try t(v).trimmingCharacters(in: .whitespacesAndNewlines))
        case "length", "count":
            switch v {
            case .string(let s): return .int(s.count)
            case .array(let a): return .int(a.count)
            case .object(let k, _): return .int(k.count)
            case .undefined: return .int(0)
            default: throw TemplateError.runtime("\(v.typeName) has no length")
            }
        case "upper": return .string(try t(v).uppercased())
        case "lower": return .string(try t(v).lowercased())
        case "title": return .string(try t(v).capitalized)
        case "capitalize":
            let s = try t(v)
            return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "default", "d":
            let fallback = arg(0, "default_value") ?? .string("")
            let boolean = arg(1, "boolean")?.truthy ?? false
            if v.isUndefined || (boolean && !v.truthy) { return fallback }
            return v
        case "join":
            let separator = try t(arg(0, "d")) ?? ""
            // Sized piece by piece: a list may hold the same long string a million times.
            var total = 0
            let pieces: [String] = try interpreter.iterate(v).map { item in
                var piece = ""
                if case .string(let attr)? = arg(1, "attribute") {
                    if let value = try? interpreter.attribute(item, attr) { piece = try t(value) }
                } else {
                    piece = try t(item)
                }
                total += piece.utf8.count + separator.utf8.count
                guard total <= limit + separator.utf8.count else { throw TemplateError.limitExceeded(limit: "output size", value: limit) }
                return piece
            }
            return .string(pieces.joined(separator: separator))
        case "first": return try interpreter.iterate(v).first ?? .undefined(name: "first")
        case "last": return try interpreter.iterate(v).last ?? .undefined(name: "last")
        case "list": return .array(try interpreter.iterate(v))
        case "reverse":
            if case .string(let s) = v { return .string(String(s.reversed())) }
            return .array(try interpreter.iterate(v).reversed())
        case "string": return .string(try t(v))
        case "int":
            switch v {
            case .int: return v
            case .double(let d): return .int(try integer(d, from: v))
            case .string(let s):
                let trimmed = s.trimmingCharacters(in: .whitespaces)
                if let i = Int(trimmed) { return .int(i) }
                guard let d = Double(trimmed) else { return .int(0) }
                return .int(try integer(d, from: v))
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
            if case .int(let i) = v {
                guard i != .min else { throw TemplateError.runtime("integer overflow: abs(\(i)) does not fit in 64 bits") }
                return .int(abs(i))
            }
            if case .double(let d) = v { return .double(abs(d)) }
            throw TemplateError.runtime("abs of a \(v.typeName)")
        case "round":
            var digits = 0
            if case .int(let n)? = arg(0, "precision") { digits = n }
            guard let x = Operators.number(v) else { throw TemplateError.runtime("round of a \(v.typeName)") }
            let scale = pow(10.0, Double(digits))
            return .double((x * scale).rounded(.toNearestOrEven) / scale)
        case "replace":
            guard let old = try t(arg(0, "old")), let new = try t(arg(1, "new")) else { throw TemplateError.runtime("replace needs two arguments") }
            return .string(try replace(try t(v), old, new, limit: limit))
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
            guard width >= 0 else { throw TemplateError.runtime("indent: width must be 0 or more, not \(width)") }
            let first = arg(1, "first")?.truthy ?? false
            let text = try t(v)
            let lines = text.components(separatedBy: "\n")
            // Refused before the padding is built: width × lines can be far past the output limit.
            let padding = width.multipliedReportingOverflow(by: lines.count)
            guard !padding.overflow, padding.partialValue <= limit - text.utf8.count else {
                throw TemplateError.limitExceeded(limit: "output size", value: limit)
            }
            let pad = String(repeating: " ", count: width)
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
            let test = try t(args.first) ?? "truthy"
            return .array(
                try items.filter { item in
                    let ok = test == "truthy" ? item.truthy : try Tests.apply(test, item, Array(args.dropFirst()), limits: interpreter.limits)
                    return name == "select" ? ok : !ok
                })
        case "selectattr", "rejectattr":
            guard let attr = try t(args.first) else { throw TemplateError.runtime("\(name) needs an attribute name") }
            let items = try interpreter.iterate(v)
            return .array(
                try items.filter { item in
                    let value = try interpreter.attribute(item, attr)
                    let ok = args.count > 1 ? try Tests.apply(try t(args[1]), value, Array(args.dropFirst(2)), limits: interpreter.limits) : value.truthy
                    return name == "selectattr" ? ok : !ok
                })
        case "dictsort":
            guard case .object(let keys, let values) = v else { return .array([]) }
            return .array(keys.sorted().map { .array([.string($0), values[$0] ?? .none]) })
        default:
            throw TemplateError.runtime("unknown filter \"\(name)\"")
        }
    }

    /// The `int` filter's conversion of a float: an error (not a trap) when it has no 64-bit integer.
    static func integer(_ d: Double, from v: JinjaValue) throws -> Int {
        guard let i = Int(exactly: d.rounded(.towardZero)) else {
            throw TemplateError.runtime("int: \(v.repr.prefix(40)) has no 64-bit integer value")
        }
        return i
    }

    /// Non-overlapping occurrences of `needle` (non-empty) in `haystack`, left to right, as bytes.
    static func countOccurrences(of needle: [UInt8], in haystack: [UInt8]) -> Int {
        guard needle.count <= haystack.count, let first = needle.first else { return 0 }
        var count = 0, i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first && haystack[i..<i + needle.count].elementsEqual(needle) { count += 1; i += needle.count } else { i += 1 }
        }
        return count
    }

    /// `s.replace(old, new)` sized before it is built (each occurrence may grow the string).
    static func replace(_ s: String, _ old: String, _ new: String, limit: Int) throws -> String {
        let most = old.isEmpty ? s.utf8.count + 1 : s.utf8.count / old.utf8.count + 1
        let bound = (new.utf8.count - min(new.utf8.count, old.utf8.count)).multipliedReportingOverflow(by: most)
        if bound.overflow || bound.partialValue > limit - min(limit, s.utf8.count) {
            // The bound says it might not fit: count what will really be replaced.
            let occurrences = old.isEmpty ? s.count + 1 : countOccurrences(of: Array(old.utf8), in: Array(s.utf8))
            let growth = (new.utf8.count - old.utf8.count).multipliedReportingOverflow(by: occurrences)
            guard !growth.overflow, growth.partialValue <= limit - min(limit, s.utf8.count) else {
                throw TemplateError.limitExceeded(limit: "output size", value: limit)
            }
        }
        return s.replacingOccurrences(of: old, with: new)
    }
}

enum Tests {
    static func apply(_ name: String, _ v: JinjaValue, _ args: [JinjaValue], limits: TemplateLimits) throws -> Bool {
        func t(_ x: JinjaValue) throws -> String { try x.text(limit: limits.maximumOutputBytes) }
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": return v.isNone
        case "string": if case .string = v { return true }; return false
        case "number":
            switch v {
            case .int, .double: return true;
            default: return false
            }
        case "integer": if case .int = v { return true }; return false
        case "float": if case .double = v { return true }; return false
        case "boolean": if case .bool = v { return true }; return false
        case "true": if case .bool(true) = v { return true }; return false
        case "false": if case .bool(false) = v { return true }; return false
        case "mapping":
            switch v {
            case .object, .namespace: return true;
            default: return false
            }
        case "sequence", "iterable":
            switch v {
            case .array, .string, .object: return true;
            default: return false
            }
        case "callable": if case .function = v { return true }; return false
        case "equalto", "eq", "==", "sameas": return v == (args.first ?? .none)
        case "ne", "!=": return v != (args.first ?? .none)
        case "odd", "even":
            guard case .int(let i) = v else { throw TemplateError.runtime("\(name) test needs an integer") }
            return (i % 2 != 0) == (name == "odd")
        case "divisibleby":
            guard case .int(let i) = v, case .int(let d)? = args.first, d != 0 else { throw TemplateError.runtime("divisibleby needs integers") }
            return d == -1 || i % d == 0
        case "in": return try Operators.binary("in", v, args.first ?? .none, limits: limits).truthy
        case "lower": let s = try t(v); return s == s.lowercased()
        case "upper": let s = try t(v); return s == s.uppercased()
        default: throw TemplateError.runtime("unknown test \"\(name)\"")
        }
    }
}

enum Methods {
    static func call(_ v: JinjaValue, _ name: String, _ args: [JinjaValue], limits: TemplateLimits) throws -> JinjaValue {
        let limit = limits.maximumOutputBytes
        func t(_ x: JinjaValue) throws -> String { try x.text(limit: limit) }
        func t(_ x: JinjaValue?) throws -> String? { try x.map(t) }
        switch (v, name) {
        case (.string(let s), "strip"): return .string(strip(s, try t(args.first), leading: true, trailing: true))
        case (.string(let s), "lstrip"): return .string(strip(s, try t(args.first), leading: true, trailing: false))
        case (.string(let s), "rstrip"): return .string(strip(s, try t(args.first), leading: false, trailing: true))
        case (.string(let s), "upper"): return .string(s.uppercased())
        case (.string(let s), "lower"): return .string(s.lowercased())
        case (.string(let s), "title"): return .string(s.capitalized)
        case (.string(let s), "capitalize"): return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case (.string(let s), "startswith"): return .bool(s.hasPrefix(try t(args.first) ?? ""))
        case (.string(let s), "endswith"): return .bool(s.hasSuffix(try t(args.first) ?? ""))
        case (.string(let s), "replace"):
            guard args.count >= 2 else { throw TemplateError.runtime("replace needs two arguments") }
            return .string(try Filters.replace(s, try t(args[0]), try t(args[1]), limit: limit))
        case (.string(let s), "split"):
            if let sep = args.first, !sep.isNone {
                return .array(s.components(separatedBy: try t(sep)).map { .string($0) })
            }
            return .array(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
        case (.string(let s), "join"):
            guard case .array(let items)? = args.first else { throw TemplateError.runtime("join needs a list") }
            var total = 0
            let pieces: [String] = try items.map { item in
                let piece = try t(item)
                total += piece.utf8.count + s.utf8.count
                guard total <= limit + s.utf8.count else { throw TemplateError.limitExceeded(limit: "output size", value: limit) }
                return piece
            }
            return .string(pieces.joined(separator: s))
        case (.object(let keys, let values), "items"): return .array(keys.map { .array([.string($0), values[$0] ?? .none]) })
        case (.object(let keys, _), "keys"): return .array(keys.map { .string($0) })
        case (.object(let keys, let values), "values"): return .array(keys.map { values[$0] ?? .none })
        case (.object(_, let values), "get"): return values[try t(args.first) ?? ""] ?? (args.count > 1 ? args[1] : .none)
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

/// JSON text as Python's json.dumps(ensure_ascii=False) writes it, appended to one string that is
/// checked against the output limit as it grows (indent × depth × items can be far past it).
enum JSONText {
    static func write(_ v: JinjaValue, indent: Int?, level: Int, into out: inout String, limit: Int) throws {
        guard level < 64 else { throw TemplateError.limitExceeded(limit: "tojson depth", value: 64) }
        func check() throws { if out.utf8.count > limit { throw TemplateError.limitExceeded(limit: "output size", value: limit) } }
        /// A newline and the indentation of `depth`, when indenting (sized before it is built).
        func newline(_ depth: Int) throws {
            guard let indent else { return }
            let width = indent.multipliedReportingOverflow(by: depth)
            guard !width.overflow, width.partialValue <= limit - min(limit, out.utf8.count) else {
                throw TemplateError.limitExceeded(limit: "output size", value: limit)
            }
            out += "\n" + String(repeating: " ", count: width.partialValue)
        }
        let itemSeparator = indent == nil ? ", " : ","
        switch v {
        case .undefined, .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d.isFinite ? JinjaValue.formatDouble(d) : (d.isNaN ? "NaN" : d > 0 ? "Infinity" : "-Infinity")
        case .string(let s):
            guard s.utf8.count <= limit else { throw TemplateError.limitExceeded(limit: "output size", value: limit) }
            out += quote(s)
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in a.enumerated() {
                if i > 0 { out += itemSeparator }
                try newline(level + 1)
                try write(item, indent: indent, level: level + 1, into: &out, limit: limit)
            }
            try newline(level)
            out += "]"
        case .object(let keys, let values):
            if keys.isEmpty { out += "{}"; return }
            out += "{"
            for (i, key) in keys.enumerated() {
                if i > 0 { out += itemSeparator }
                try newline(level + 1)
                out += quote(key) + ": "
                try write(values[key] ?? .none, indent: indent, level: level + 1, into: &out, limit: limit)
            }
            try newline(level)
            out += "}"
        case .namespace(let ns): try write(.object(keys: ns.keys, values: ns.values), indent: indent, level: level, into: &out, limit: limit)
        case .function: throw TemplateError.runtime("cannot convert a function to JSON")
        }
        try check()
    }

    static func quote(_ s: String) -> String {
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") }) { return "\"" + s + "\"" }
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
