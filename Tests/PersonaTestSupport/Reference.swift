// Loads the Hugging Face ground truth in ../shared/reference/*.json.
import Foundation
import XCTest

/// A reference file, read as loosely-typed JSON.
public struct Reference {
    public let name: String
    public let json: [String: Any]

    public static let files = ["smollm2-135m": "smollm2-135m.json", "qwen2.5-0.5b": "qwen2.5-coder-0.5b.json"]

    public static func load(_ model: String) throws -> Reference {
        let url = TestPaths.reference.appendingPathComponent(files[model] ?? model)
        let data = try Data(contentsOf: url)
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TestEnvironment.skipOrFail("reference \(url.path) is not a JSON object")
        }
        return Reference(name: model, json: json)
    }

    public subscript(_ key: String) -> Any? { json[key] }
}

extension Dictionary where Key == String, Value == Any {
    public func dict(_ key: String) -> [String: Any] { self[key] as? [String: Any] ?? [:] }
    public func list(_ key: String) -> [Any] { self[key] as? [Any] ?? [] }
    public func ints(_ key: String) -> [Int] { (self[key] as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.intValue } }
    public func floats(_ key: String) -> [Float] { (self[key] as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.floatValue } }
    public func string(_ key: String) -> String? { self[key] as? String }
}

/// A golden reference that lacks what a test compares against.
public struct ReferenceError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

extension Dictionary where Key == String, Value == Any {
    /// The objects listed at `key`, never none: a loop over zero golden cases would pass without testing.
    public func cases(_ key: String, in context: String) throws -> [[String: Any]] {
        guard let list = self[key] as? [Any] else { throw ReferenceError(description: "\(context): no list \"\(key)\" in the reference") }
        let objects = list.compactMap { $0 as? [String: Any] }
        guard !objects.isEmpty, objects.count == list.count else {
            throw ReferenceError(
                description: "\(context): \"\(key)\" holds \(objects.count) cases of \(list.count) entries (expected at least one, all objects)")
        }
        return objects
    }

    /// The number at `key`: a missing logit must not read as 0 (a gap of 0 passes every near-tie check).
    public func number(_ key: String, in context: String) throws -> Float {
        guard let n = self[key] as? NSNumber else {
            throw ReferenceError(description: "\(context): no number \"\(key)\" in the reference (found \(String(describing: self[key])))")
        }
        return n.floatValue
    }
}

/// Cosine similarity and max absolute difference relative to the reference's max magnitude.
public func compare(_ mine: [Float], _ reference: [Float]) -> (cosine: Double, relativeMaxError: Double) {
    precondition(mine.count == reference.count, "length mismatch \(mine.count) vs \(reference.count)")
    var dot = 0.0, a = 0.0, b = 0.0, maxDiff = 0.0, maxRef = 0.0
    for i in 0..<mine.count {
        let x = Double(mine[i]), y = Double(reference[i])
        dot += x * y; a += x * x; b += y * y
        maxDiff = max(maxDiff, abs(x - y)); maxRef = max(maxRef, abs(y))
    }
    return (dot / ((a * b).squareRoot() + 1e-30), maxDiff / max(maxRef, 1e-30))
}
