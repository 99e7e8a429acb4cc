// The weights of a llama/qwen2 decoder, as float32 matrices in linear-layer layout [out, in].
// They are dequantized once at load from a GGUF file or read from a Hugging Face folder; the
// tensor-name mapping of each format lives here and nowhere else.
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

/// A linear layer's weight [out, in]: float32 for multi-token passes (sgemm), and the file's own
/// format for single-token decode steps (memory-bound; see QuantizedMatrix).
public struct LinearWeight {
    public let dense: FloatBuffer
    public let quantized: QuantizedMatrix?
    public let outputs: Int
    public let inputs: Int
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
    public let tokenEmbedding: FloatBuffer  // [vocab, hidden]
    public let blocks: [BlockWeights]
    public let outputNorm: FloatBuffer  // [hidden]
    /// [vocab, hidden]; the token embedding itself when tied.
    public let output: LinearWeight
    public let ropeLayout: RoPELayout
    public let ropeFrequencyFactors: [Float]?

    init(
        tokenEmbedding: FloatBuffer, blocks: [BlockWeights], outputNorm: FloatBuffer, output: LinearWeight,
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
        let embedding = try reader.load(names.tokenEmbedding, [vocab, h])
        let output =
            reader.has(names.output)
            ? try reader.linear(names.output, vocab, h)
            : LinearWeight(dense: embedding, quantized: try reader.quantized(names.tokenEmbedding, vocab, h), outputs: vocab, inputs: h)
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

    /// A linear weight [outputs, inputs]: float32, plus the file's format when it has a fast kernel.
    func linear(_ name: String, _ outputs: Int, _ inputs: Int) throws -> LinearWeight {
        LinearWeight(dense: try load(name, [outputs, inputs]), quantized: try quantized(name, outputs, inputs), outputs: outputs, inputs: inputs)
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
