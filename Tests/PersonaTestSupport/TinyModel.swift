// A tiny random-weight model, built as a GGUF in memory, for shape and plumbing tests.
import Foundation
import PersonaModel

public enum TinyModel {
    /// A 2-block qwen2-style (with biases) or llama-style model: hidden 16, 4 heads / 2 KV heads, ffn 24, vocab 40.
    public static func make(architecture: String = "qwen2", seed: UInt64 = 7) throws -> Transformer {
        var state = seed
        func random(_ n: Int, scale: Float = 0.3) -> [Float] {
            (0..<n).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return (Float(state >> 40) / Float(1 << 24) - 0.5) * 2 * scale
            }
        }
        let hidden = 16, heads = 4, kvHeads = 2, headDim = 4, ffn = 24, vocab = 40, layers = 2
        var b = GGUFBuilder()
        b.add("general.architecture", .string(architecture))
        b.add("\(architecture).block_count", .u32(UInt32(layers)))
        b.add("\(architecture).embedding_length", .u32(UInt32(hidden)))
        b.add("\(architecture).feed_forward_length", .u32(UInt32(ffn)))
        b.add("\(architecture).attention.head_count", .u32(UInt32(heads)))
        b.add("\(architecture).attention.head_count_kv", .u32(UInt32(kvHeads)))
        b.add("\(architecture).context_length", .u32(128))
        b.add("\(architecture).rope.freq_base", .f32(10000))
        b.add("\(architecture).attention.layer_norm_rms_epsilon", .f32(1e-6))
        b.add("\(architecture).vocab_size", .u32(UInt32(vocab)))
        var t: [GGUFBuilder.Tensor] = [GGUFBuilder.f32("token_embd.weight", dims: [hidden, vocab], values: random(hidden * vocab, scale: 1))]
        for l in 0..<layers {
            let p = "blk.\(l)."
            t.append(GGUFBuilder.f32(p + "attn_norm.weight", dims: [hidden], values: random(hidden).map { 1 + $0 }))
            t.append(GGUFBuilder.f32(p + "attn_q.weight", dims: [hidden, heads * headDim], values: random(hidden * heads * headDim)))
            t.append(GGUFBuilder.f32(p + "attn_k.weight", dims: [hidden, kvHeads * headDim], values: random(hidden * kvHeads * headDim)))
            t.append(GGUFBuilder.f32(p + "attn_v.weight", dims: [hidden, kvHeads * headDim], values: random(hidden * kvHeads * headDim)))
            if architecture == "qwen2" {
                t.append(GGUFBuilder.f32(p + "attn_q.bias", dims: [heads * headDim], values: random(heads * headDim)))
                t.append(GGUFBuilder.f32(p + "attn_k.bias", dims: [kvHeads * headDim], values: random(kvHeads * headDim)))
                t.append(GGUFBuilder.f32(p + "attn_v.bias", dims: [kvHeads * headDim], values: random(kvHeads * headDim)))
            }
            t.append(GGUFBuilder.f32(p + "attn_output.weight", dims: [heads * headDim, hidden], values: random(hidden * heads * headDim)))
            t.append(GGUFBuilder.f32(p + "ffn_norm.weight", dims: [hidden], values: random(hidden).map { 1 + $0 }))
            t.append(GGUFBuilder.f32(p + "ffn_gate.weight", dims: [hidden, ffn], values: random(hidden * ffn)))
            t.append(GGUFBuilder.f32(p + "ffn_up.weight", dims: [hidden, ffn], values: random(hidden * ffn)))
            t.append(GGUFBuilder.f32(p + "ffn_down.weight", dims: [ffn, hidden], values: random(hidden * ffn)))
        }
        t.append(GGUFBuilder.f32("output_norm.weight", dims: [hidden], values: random(hidden).map { 1 + $0 }))
        b.tensors = t
        let file = try b.parse()
        return try Transformer(source: .gguf(file))
    }
}
