// Typed access to GGUF metadata. `string`, `int`… return nil when the key is absent; the
// `required…` forms throw a `GGUFError` naming the key, the expected and the found type.

extension GGUFFile {
    public func string(_ key: String) -> String? { metadata[key]?.string }
    public func int(_ key: String) -> Int? { metadata[key]?.integer }
    public func double(_ key: String) -> Double? { metadata[key]?.double }
    public func bool(_ key: String) -> Bool? {
        if case .bool(let b)? = metadata[key] { return b }
        return nil
    }
    /// A string array's elements as raw bytes (token strings are keyed by bytes).
    public func stringArray(_ key: String) -> [[UInt8]]? {
        if case .array(.string(let a))? = metadata[key] { return a }
        return nil
    }
    /// An integer array of any integer element type.
    public func intArray(_ key: String) -> [Int]? {
        if case .array(let a)? = metadata[key] { return a.integers }
        return nil
    }
    public func floatArray(_ key: String) -> [Float]? {
        if case .array(.float32(let a))? = metadata[key] { return a }
        return nil
    }

    public func requiredString(_ key: String) throws -> String {
        guard let value = metadata[key] else { throw GGUFError.missingKey(path: path, key: key) }
        guard let s = value.string else { throw GGUFError.wrongValueType(path: path, key: key, expected: "string", found: value.typeName) }
        return s
    }
    public func requiredInt(_ key: String) throws -> Int {
        guard let value = metadata[key] else { throw GGUFError.missingKey(path: path, key: key) }
        guard let v = value.integer else { throw GGUFError.wrongValueType(path: path, key: key, expected: "integer", found: value.typeName) }
        return v
    }
    public func requiredDouble(_ key: String) throws -> Double {
        guard let value = metadata[key] else { throw GGUFError.missingKey(path: path, key: key) }
        guard let v = value.double else { throw GGUFError.wrongValueType(path: path, key: key, expected: "number", found: value.typeName) }
        return v
    }

    /// `general.architecture`, e.g. `llama` or `qwen2`.
    public var architecture: String? { string("general.architecture") }
}
