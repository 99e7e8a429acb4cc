// Text helpers for the report: HTML escaping (every text that reaches the page goes through
// `escapeHTML`, model answers included) and number formatting that never prints "nan".
import Foundation

enum HTMLText {
    /// Escapes the five characters that matter in HTML text and attribute values.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters other than tab/newline would make the XML of inline SVG invalid.
                if ch.value < 0x20 && ch != "\n" && ch != "\t" && ch != "\r" { out += "\u{FFFD}" } else { out.unicodeScalars.append(ch) }
            }
        }
        return out
    }

    /// A number for display: `digits` decimals, "—" for nil, NaN or infinity.
    static func number(_ x: Double?, digits: Int = 1) -> String {
        guard let x, x.isFinite else { return "—" }
        return String(format: "%.\(digits)f", x)
    }

    /// A coordinate for SVG: two decimals, never "nan" (callers filter non-finite values first;
    /// this is the last guard).
    static func coordinate(_ x: Double) -> String {
        guard x.isFinite else { return "0" }
        let r = (x * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r)
    }

    /// A compact label for an axis tick or coefficient (no trailing zeros).
    static func tick(_ x: Double) -> String {
        guard x.isFinite else { return "—" }
        if abs(x - x.rounded()) < 1e-9 && abs(x) < 1e15 { return String(Int(x.rounded())) }
        var s = String(format: "%.3f", x)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
}
