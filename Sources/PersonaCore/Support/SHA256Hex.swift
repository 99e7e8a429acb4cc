// Content hashes (pack hashes, model fingerprints, cache keys) as lowercase hex: swift-crypto's SHA-256.
import Crypto
import Foundation

extension SHA256 {
    /// The lowercase hex SHA-256 of `data`.
    static func hex(_ data: Data) -> String { hash(data: data).map { String(format: "%02x", $0) }.joined() }
}
