// Writes float32 safetensors files (vector files, test fixtures). Atomic: a temporary file renamed
// into place, so a reader never sees half a file.
import Foundation

public enum SafetensorsWriter {
    /// One float32 tensor to write.
    public struct Tensor {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        public init(name: String, shape: [Int], values: [Float]) { self.name = name; self.shape = shape; self.values = values }
    }

    /// The bytes of a safetensors file holding `tensors` (float32) and string `metadata`.
    public static func encode(_ tensors: [Tensor], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            guard t.shape.reduce(1, *) == t.values.count else {
                throw SafetensorsError.badTensorEntry(
                    path: "<writer>", tensor: t.name, field: "shape", reason: "\(t.shape) does not hold \(t.values.count) values")
            }
            let size = t.values.count * 4
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + size]] as [String: Any]
            offset += size
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces so the data starts 8-byte aligned (allowed by the format).
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data()
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(json)
        for t in tensors {
            t.values.withUnsafeBufferPointer { buffer in
                out.append(contentsOf: UnsafeRawBufferPointer(buffer))  // little-endian hosts only
            }
        }
        return out
    }

    /// Writes the file atomically.
    public static func write(_ tensors: [Tensor], metadata: [String: String] = [:], to url: URL) throws {
        try encode(tensors, metadata: metadata).write(to: url, options: .atomic)
    }
}
