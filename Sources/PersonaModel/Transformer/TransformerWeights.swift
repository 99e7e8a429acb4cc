// The weights of a llama/qwen2 decoder, as float32 matrices in linear-layer layout [out, in].
// They are dequantized once at load from a GGUF file or read from a Hugging Face folder; the
// tensor-name mapping of each format lives here and nowhere else.
import Dispatch
import Foundation
import PersonaTensor

public enum TransformerError: Error, CustomStringConvertible, Equatable {
    case unsupportedArchitecture(path: String, architecture: String)
    case missingTensor(path: String, name: String)
    case badShape(path: String, name: String, expected: [Int], found: [Int])
    case tokenOutOfRange(token: Int, vocabularySize: Int)
    case contextOverflow(position: Int, contextLength: Int)
    case badBatch(reason: String)

    public var description: String {
        switch self {
        case let .unsupportedArchitecture(path, architecture):
            return "\(path): architecture \"\(architecture)\" is not supported (supported: llama, qwen2)"
        case let .missingTensor(path, name): return "\(path): tensor \"\(name)\" is missing"
        case let .badShape(path, name, expected, found):
            return "\(path): tensor \"\(name)\" has shape \(found), expected \(expected)"
        case let .tokenOutOfRange(token, vocabularySize):
            return "token id \(token) is outside the vocabulary (0..<\(vocabularySize))"
        case let .contextOverflow(position, contextLength):
            return "position \(position) is past the model's context length \(contextLength)"
        case let .badBatch(reason): return "bad batch: \(reason)"
        }
    }
}

/// A linear layer's weight [out, in]: the file's own format (`quantized`, read in place from the
/// mapped file) and a float32 copy (`dense`) for the paths that need one: sgemm on multi-token
/// spans of the exact arithmetic, and Hugging Face folders, which have no quantized format.
///
/// The float32 copy of a quantized weight is made on first use, not at load: the fast (integer)
/// path never reads it, so a model run that way holds its weights in the file's size, not in
/// float32's (qwen2.5-0.5b: 0.47 GB mapped instead of 2.0 GB more of copies). The copy decodes
/// each row with the decoder the quantized kernels use, which is bit-equal to the reference
/// dequantizer: the exact path's numbers do not depend on when the copy was made.
public final class LinearWeight: @unchecked Sendable {
    public let outputs: Int
    public let inputs: Int
    private enum Source {
        case float32(FloatBuffer)
        case quantized(QuantizedMatrix)
    }
    private let source: Source
    private let lock = NSLock()
    /// The float32 copy of a quantized weight, once a path has asked for it.
    private var denseCopy: FloatBuffer?

    /// A weight held only as float32 (a Hugging Face folder).
    init(dense: FloatBuffer, outputs: Int, inputs: Int) {
        source = .float32(dense); self.outputs = outputs; self.inputs = inputs
    }

    /// A weight in its file's format; the float32 copy is made when a path first asks for it.
    init(quantized: QuantizedMatrix) {
        source = .quantized(quantized); outputs = quantized.rows; inputs = quantized.columns
    }

    /// The weight in its file's format (nil for a Hugging Face folder).
    public var quantized: QuantizedMatrix? {
        if case let .quantized(matrix) = source { return matrix }
        return nil
    }

    /// The float32 weights [outputs, inputs], made from the quantized ones on first use.
    public var dense: FloatBuffer {
        let matrix: QuantizedMatrix
        switch source {
        case let .float32(buffer): return buffer
        case let .quantized(m): matrix = m
        }
        lock.lock(); defer { lock.unlock() }
        if let denseCopy { return denseCopy }
        let copy = FloatBuffer(count: outputs * inputs)
        let (outputs, inputs) = (self.outputs, self.inputs)
        let chunks = max(1, min(outputs / 256, 4 * QuantizedMatrix.threadCount))
        let perChunk = (outputs + chunks - 1) / chunks
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            for r in chunk * perChunk..<min(outputs, (chunk + 1) * perChunk) { matrix.decodeRow(r, into: copy.row(r, width: inputs)) }
        }
        denseCopy = copy
        return copy
    }

    /// Whether float32 weights are held: a Hugging Face folder's, or a quantized weight's copy
    /// made for a path that needed it.
    public var holdsFloat32: Bool {
        guard case .quantized = source else { return true }
        lock.lock(); defer { lock.unlock() }
        return denseCopy != nil
    }

    /// Row `row` as float32 into `output` (`inputs` floats), without making the float32 copy (the
    /// token embedding's lookups).
    public func copyRow(_ row: Int, into output: UnsafeMutablePointer<Float>) {
        switch source {
        case let .float32(buffer): output.update(from: buffer.row(row, width: inputs), count: inputs)
        case let .quantized(matrix): matrix.decodeRow(row, into: output)
        }
    }
}

/// One decoder block's weights.
public struct BlockWeights {
    public let attentionNorm: FloatBuffer  // [hidden]
    public let query: LinearWeight  // [heads·headDim, hidden]
    public let key: LinearWeight  // [kvHeads·headDim, hidden]
    public let value: LinearWeight  // [kvHeads·headDim, hidden]
    public let queryBias: FloatBuffer?
    public let keyBias: FloatBuffer?
    public let valueBias: FloatBuffer?
    public let attentionOutput: LinearWeight  // [hidden, heads·headDim]
    public let feedForwardNorm: FloatBuffer  // [hidden]
    public let gate: LinearWeight  // [ffn, hidden]
    public let up: LinearWeight  // [ffn, hidden]
    public let down: LinearWeight  // [hidden, ffn]
}

/// All weights of the model.
public final class TransformerWeights {
    /// [vocab, hidden]; rows are looked up (`copyRow`), so a quantized table stays in its format.
    public let tokenEmbedding: LinearWeight
    public let blocks: [BlockWeights]
    public let outputNorm: FloatBuffer  // [hidden]
    /// [vocab, hidden]; the token embedding itself when tied.
    public let output: LinearWeight
    public let ropeLayout: RoPELayout
    public let ropeFrequencyFactors: [Float]?

    init(
        tokenEmbedding: LinearWeight, blocks: [BlockWeights], outputNorm: FloatBuffer, output: LinearWeight,
        ropeLayout: RoPELayout, ropeFrequencyFactors: [Float]?
    ) {
        self.tokenEmbedding = tokenEmbedding; self.blocks = blocks; self.outputNorm = outputNorm
        self.output = output; self.ropeLayout = ropeLayout; self.ropeFrequencyFactors = ropeFrequencyFactors
    }

    /// Loads and dequantizes the weights of `source` for `config`.
    public static func load(from source: ModelSource, config: ModelConfig) throws -> TransformerWeights {
        guard ["llama", "qwen2"].contains(config.architecture) else {
            throw TransformerError.unsupportedArchitecture(path: source.path, architecture: config.architecture)
        }
        let reader = WeightReader(source: source)
        let h = config.hiddenSize, q = config.headCount * config.headDimension
        let kv = config.kvHeadCount * config.headDimension, f = config.feedForwardSize, vocab = config.vocabularySize
        let names = reader.names
        var blocks: [BlockWeights] = []
        for l in 0..<config.layerCount {
            let n = names.block(l)
            blocks.append(
                BlockWeights(
                    attentionNorm: try reader.load(n.attentionNorm, [h]),
                    query: try reader.linear(n.query, q, h),
                    key: try reader.linear(n.key, kv, h),
                    value: try reader.linear(n.value, kv, h),
                    queryBias: config.attentionBias ? try reader.load(n.queryBias, [q]) : nil,
                    keyBias: config.attentionBias ? try reader.load(n.keyBias, [kv]) : nil,
                    valueBias: config.attentionBias ? try reader.load(n.valueBias, [kv]) : nil,
                    attentionOutput: try reader.linear(n.attentionOutput, h, q),
                    feedForwardNorm: try reader.load(n.feedForwardNorm, [h]),
                    gate: try reader.linear(n.gate, f, h),
                    up: try reader.linear(n.up, f, h),
                    down: try reader.linear(n.down, h, f)))
        }
        let embedding = try reader.linear(names.tokenEmbedding, vocab, h)
        // Tied: the output layer is the embedding table itself (one float32 copy if a path needs one).
        let output = reader.has(names.output) ? try reader.linear(names.output, vocab, h) : embedding
        if !reader.has(names.output) && !config.tiedEmbeddings {
            throw TransformerError.missingTensor(path: source.path, name: names.output)
        }
        // llama-architecture GGUFs carry permuted Q/K rows (interleaved pairs); everything else is NeoX.
        let layout: RoPELayout
        if case .gguf = source, config.architecture == "llama" { layout = .interleaved } else { layout = .neox }
        let factors = reader.has("rope_freqs.weight") ? try reader.load("rope_freqs.weight", [config.headDimension / 2]).array : nil
        return TransformerWeights(
            tokenEmbedding: embedding, blocks: blocks, outputNorm: try reader.load(names.outputNorm, [h]),
            output: output, ropeLayout: layout, ropeFrequencyFactors: factors)
    }
}

/// Tensor names of one block in a given format.
struct BlockTensorNames {
    let attentionNorm, query, key, value, queryBias, keyBias, valueBias, attentionOutput: String
    let feedForwardNorm, gate, up, down: String
}

/// The tensor names a format uses.
struct TensorNames {
    let tokenEmbedding, outputNorm, output: String
    let block: (Int) -> BlockTensorNames

    static let gguf = TensorNames(tokenEmbedding: "token_embd.weight", outputNorm: "output_norm.weight", output: "output.weight") { l in
        let p = "blk.\(l)."
        return BlockTensorNames(
            attentionNorm: p + "attn_norm.weight", query: p + "attn_q.weight", key: p + "attn_k.weight",
            value: p + "attn_v.weight", queryBias: p + "attn_q.bias", keyBias: p + "attn_k.bias",
            valueBias: p + "attn_v.bias", attentionOutput: p + "attn_output.weight",
            feedForwardNorm: p + "ffn_norm.weight", gate: p + "ffn_gate.weight", up: p + "ffn_up.weight",
            down: p + "ffn_down.weight")
    }

    static let huggingFace = TensorNames(tokenEmbedding: "model.embed_tokens.weight", outputNorm: "model.norm.weight", output: "lm_head.weight") { l in
        let p = "model.layers.\(l)."
        return BlockTensorNames(
            attentionNorm: p + "input_layernorm.weight", query: p + "self_attn.q_proj.weight",
            key: p + "self_attn.k_proj.weight", value: p + "self_attn.v_proj.weight",
            queryBias: p + "self_attn.q_proj.bias", keyBias: p + "self_attn.k_proj.bias",
            valueBias: p + "self_attn.v_proj.bias", attentionOutput: p + "self_attn.o_proj.weight",
            feedForwardNorm: p + "post_attention_layernorm.weight", gate: p + "mlp.gate_proj.weight",
            up: p + "mlp.up_proj.weight", down: p + "mlp.down_proj.weight")
    }
}

/// Reads named tensors of either format as float32, checking shapes.
struct WeightReader {
    let source: ModelSource

    var names: TensorNames {
        if case .gguf = source { return .gguf }
        return .huggingFace
    }

    func has(_ name: String) -> Bool {
        switch source {
        case .gguf(let f): return f.tensor(named: name) != nil
        case .huggingFace(let h): return h.tensor(named: name) != nil
        }
    }

    /// A linear weight [outputs, inputs]: in the file's format when it is a GGUF file (its float32
    /// copy made on first use), else float32.
    func linear(_ name: String, _ outputs: Int, _ inputs: Int) throws -> LinearWeight {
        if let matrix = try quantized(name, outputs, inputs) { return LinearWeight(quantized: matrix) }
        return LinearWeight(dense: try load(name, [outputs, inputs]), outputs: outputs, inputs: inputs)
    }

    /// The tensor as stored in a GGUF file, for the decode kernel (nil for other sources).
    func quantized(_ name: String, _ outputs: Int, _ inputs: Int) throws -> QuantizedMatrix? {
        guard case .gguf(let f) = source, let t = f.tensor(named: name), t.shape == [outputs, inputs] else { return nil }
        return try QuantizedMatrix(type: t.type, rows: outputs, columns: inputs, bytes: f.data(of: t), owner: f)
    }

    /// The tensor `name` as float32; `shape` is row-major ([out, in] for a linear weight).
    func load(_ name: String, _ shape: [Int]) throws -> FloatBuffer {
        let type: GGMLType, found: [Int], bytes: UnsafeRawBufferPointer
        switch source {
        case .gguf(let f):
            guard let t = f.tensor(named: name) else { throw TransformerError.missingTensor(path: f.path, name: name) }
            (type, found, bytes) = (t.type, t.shape, f.data(of: t))
        case .huggingFace(let h):
            guard h.tensor(named: name) != nil else { throw TransformerError.missingTensor(path: h.url.path, name: name) }
            let (info, data) = try h.data(of: name)
            (type, found, bytes) = (info.type, info.shape, data)
        }
        // A 1-D weight may be stored as [1, n] by some converters.
        let normalized = found.count == 2 && found[0] == 1 && shape.count == 1 ? [found[1]] : found
        guard normalized == shape else { throw TransformerError.badShape(path: source.path, name: name, expected: shape, found: found) }
        let count = shape.reduce(1, *)
        let out = FloatBuffer(count: count)
        try Dequantize.rows(type: type, from: bytes, elements: count, into: out.buffer)
        return out
    }
}
