// Float32 access to safetensors tensors.
import PersonaTensor

extension SafetensorsFile {
    /// A tensor's values as float32 (F16/BF16 widened).
    public func floats(of tensor: SafetensorsTensorInfo) throws -> [Float] {
        var out = [Float](repeating: 0, count: tensor.elementCount)
        try out.withUnsafeMutableBufferPointer { dst in
            try Dequantize.rows(type: tensor.type, from: data(of: tensor), elements: tensor.elementCount, into: dst)
        }
        return out
    }
}
