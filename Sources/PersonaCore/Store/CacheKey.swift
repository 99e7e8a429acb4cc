// Cache keys (DESIGN.md, "Run store and artifacts") and the store's float blobs.
//
// Every record carries a cache key: a hash of the model fingerprint (with the arithmetic when it is
// the fast one: `LanguageModel.computeIdentity`), the pack's content hash, the
// judge's cache identity where relevant and every parameter that changes the record. A stage looks
// its items up by key and computes only the missing ones. Float vectors are stored as little-endian
// float32 blobs.
import Crypto
import Foundation

/// Stable cache keys: SHA-256 over labelled parts.
public enum CacheKey {
    /// A key from named parts (order matters; each part is prefixed by its length so no two part
    /// lists collide).
    public static func make(_ parts: [String]) -> String {
        var data = Data()
        for p in parts {
            let bytes = Array(p.utf8)
            data.append(contentsOf: Array(String(bytes.count).utf8))
            data.append(0x3A)
            data.append(contentsOf: bytes)
        }
        return String(SHA256.hex(data).prefix(32))
    }

    /// A 64-bit seed derived from parts (first 8 bytes of their SHA-256).
    public static func seed(_ parts: [String]) -> UInt64 {
        let digest = SHA256.hash(data: Data(make(parts).utf8))
        return digest.prefix(8).reduce(0) { ($0 << 8) | UInt64($1) }
    }

    /// A number as text that round-trips exactly.
    public static func number(_ x: Double) -> String { String(x.bitPattern, radix: 16) + "/" + String(x) }
}

/// Float arrays as little-endian float32 blobs.
public enum FloatBlob {
    public static func encode(_ values: [Float]) -> Data {
        values.withUnsafeBufferPointer { Data(buffer: $0) }  // x86-64 and arm64 are little-endian
    }
    public static func encode(rows: [[Float]]) -> Data { encode(rows.flatMap { $0 }) }

    public static func decode(_ data: Data, count: Int, table: String, column: String, key: String) throws -> [Float] {
        guard data.count == count * 4 else { throw RunStoreError.badBlob(table: table, column: column, key: key, bytes: data.count, expected: count * 4) }
        var out = [Float](repeating: 0, count: count)
        _ = out.withUnsafeMutableBytes { data.copyBytes(to: $0) }
        return out
    }

    public static func decode(rows data: Data, rows: Int, width: Int, table: String, column: String, key: String) throws -> [[Float]] {
        if data.isEmpty && rows * width > 0 { return Array(repeating: [], count: rows) }  // no response tokens
        let flat = try decode(data, count: rows * width, table: table, column: column, key: key)
        return (0..<rows).map { Array(flat[($0 * width)..<(($0 + 1) * width)]) }
    }
}
