// The same tiny random model stored as a Hugging Face folder and as a GGUF file (with llama.cpp's
// Q/K row permutation for llama) gives the same logits: checks the HF tensor-name mapping and the
// RoPE layout choice (NeoX for HF folders, interleaved for llama GGUFs).
import Foundation
import XCTest
import PersonaTestSupport
@testable import PersonaModel

final class HFFolderModelTests: XCTestCase {
    let hidden = 16, heads = 4, kvHeads = 2, headDim = 4, ffn = 24, vocab = 40, layers = 2

    /// llama.cpp's permutation of Q/K rows for interleaved RoPE: within each head, row j·(d/2)+i → 2i+j.
    func permute(_ w: [Float], heads: Int, columns: Int) -> [Float] {
        var out = w
        let rowsPerHead = w.count / columns / heads
        for h in 0..<heads {
            for i in 0..<(rowsPerHead / 2) {
                for j in 0..<2 {
                    let from = h * rowsPerHead + j * (rowsPerHead / 2) + i, to = h * rowsPerHead + 2 * i + j
                    for c in 0..<columns { out[to * columns + c] = w[from * columns + c] }
                }
            }
        }
        return out
    }

    func check(architecture: String) throws {
        var state: UInt64 = 99
        func random(_ n: Int, scale: Float = 0.3) -> [Float] {
            (0..<n).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return (Float(state >> 40) / Float(1 << 24) - 0.5) * 2 * scale
            }
        }
        let q = heads * headDim, kv = kvHeads * headDim
        var hf: [(String, [Int], [Float])] = [
            ("model.embed_tokens.weight", [vocab, hidden], random(vocab * hidden, scale: 1)),
            ("model.norm.weight", [hidden], random(hidden).map { 1 + $0 }),
            ("lm_head.weight", [vocab, hidden], random(vocab * hidden))
        ]
        var gguf: [GGUFBuilder.Tensor] = []
        for l in 0..<layers {
            let p = "model.layers.\(l)."
            let wq = random(q * hidden), wk = random(kv * hidden), wv = random(kv * hidden)
            hf += [
                (p + "input_layernorm.weight", [hidden], random(hidden).map { 1 + $0 }),
                (p + "self_attn.q_proj.weight", [q, hidden], wq), (p + "self_attn.k_proj.weight", [kv, hidden], wk),
                (p + "self_attn.v_proj.weight", [kv, hidden], wv), (p + "self_attn.o_proj.weight", [hidden, q], random(hidden * q)),
                (p + "post_attention_layernorm.weight", [hidden], random(hidden).map { 1 + $0 }),
                (p + "mlp.gate_proj.weight", [ffn, hidden], random(ffn * hidden)), (p + "mlp.up_proj.weight", [ffn, hidden], random(ffn * hidden)),
                (p + "mlp.down_proj.weight", [hidden, ffn], random(hidden * ffn))
            ]
            if architecture == "qwen2" {
                hf += [
                    (p + "self_attn.q_proj.bias", [q], random(q)), (p + "self_attn.k_proj.bias", [kv], random(kv)),
                    (p + "self_attn.v_proj.bias", [kv], random(kv))
                ]
            }
        }
        let byName = Dictionary(uniqueKeysWithValues: hf.map { ($0.0, $0.2) })
        func ggufTensor(_ name: String, _ hfName: String, _ shape: [Int], transform: ([Float]) -> [Float] = { $0 }) -> GGUFBuilder.Tensor {
            GGUFBuilder.f32(name, dims: shape.reversed(), values: transform(byName[hfName]!))
        }
        gguf += [
            ggufTensor("token_embd.weight", "model.embed_tokens.weight", [vocab, hidden]),
            ggufTensor("output_norm.weight", "model.norm.weight", [hidden]), ggufTensor("output.weight", "lm_head.weight", [vocab, hidden])
        ]
        for l in 0..<layers {
            let p = "model.layers.\(l).", b = "blk.\(l)."
            let permuteQ: ([Float]) -> [Float] = architecture == "llama" ? { self.permute($0, heads: self.heads, columns: self.hidden) } : { $0 }
            let permuteK: ([Float]) -> [Float] = architecture == "llama" ? { self.permute($0, heads: self.kvHeads, columns: self.hidden) } : { $0 }
            gguf += [
                ggufTensor(b + "attn_norm.weight", p + "input_layernorm.weight", [hidden]),
                ggufTensor(b + "attn_q.weight", p + "self_attn.q_proj.weight", [q, hidden], transform: permuteQ),
                ggufTensor(b + "attn_k.weight", p + "self_attn.k_proj.weight", [kv, hidden], transform: permuteK),
                ggufTensor(b + "attn_v.weight", p + "self_attn.v_proj.weight", [kv, hidden]),
                ggufTensor(b + "attn_output.weight", p + "self_attn.o_proj.weight", [hidden, q]),
                ggufTensor(b + "ffn_norm.weight", p + "post_attention_layernorm.weight", [hidden]),
                ggufTensor(b + "ffn_gate.weight", p + "mlp.gate_proj.weight", [ffn, hidden]),
                ggufTensor(b + "ffn_up.weight", p + "mlp.up_proj.weight", [ffn, hidden]),
                ggufTensor(b + "ffn_down.weight", p + "mlp.down_proj.weight", [hidden, ffn])
            ]
            if architecture == "qwen2" {
                gguf += [
                    ggufTensor(b + "attn_q.bias", p + "self_attn.q_proj.bias", [q]), ggufTensor(b + "attn_k.bias", p + "self_attn.k_proj.bias", [kv]),
                    ggufTensor(b + "attn_v.bias", p + "self_attn.v_proj.bias", [kv])
                ]
            }
        }
        var builder = GGUFBuilder()
        builder.add("general.architecture", .string(architecture))
        for (k, v) in [
            ("block_count", layers), ("embedding_length", hidden), ("feed_forward_length", ffn), ("attention.head_count", heads),
            ("attention.head_count_kv", kvHeads), ("context_length", 128), ("vocab_size", vocab)
        ] {
            builder.add("\(architecture).\(k)", .u32(UInt32(v)))
        }
        builder.add("\(architecture).rope.freq_base", .f32(10000))
        builder.add("\(architecture).attention.layer_norm_rms_epsilon", .f32(1e-6))
        builder.tensors = gguf
        let fromGGUF = try Transformer(source: .gguf(builder.parse()))

        let dir = try TestPaths.temporaryDirectory()
        let config = """
            {"model_type": "\(architecture)", "num_hidden_layers": \(layers), "hidden_size": \(hidden), "intermediate_size": \(ffn),
             "num_attention_heads": \(heads), "num_key_value_heads": \(kvHeads), "vocab_size": \(vocab), "max_position_embeddings": 128,
             "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": false}
            """
        try config.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        try SafetensorsWriter.write(hf.map { .init(name: $0.0, shape: $0.1, values: $0.2) }, to: dir.appendingPathComponent("model.safetensors"))
        let fromHF = try Transformer(source: ModelSource.open(path: dir.path))
        XCTAssertEqual(fromHF.weights.ropeLayout, .neox)
        XCTAssertEqual(fromGGUF.weights.ropeLayout, architecture == "llama" ? .interleaved : .neox)

        let tokens = [3, 17, 5, 39, 0, 22, 8]
        let a = try fromGGUF.forward([SequenceInput(tokens: tokens, cache: fromGGUF.makeCache())], logits: .all)
        let b = try fromHF.forward([SequenceInput(tokens: tokens, cache: fromHF.makeCache())], logits: .all)
        for (x, y) in zip(a, b) {
            let diff = zip(x, y).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(diff, 1e-4, "\(architecture): GGUF and HF folder disagree by \(diff)")
        }
    }

    func testQwen2FolderMatchesGGUF() throws { try check(architecture: "qwen2") }
    func testLlamaFolderMatchesPermutedGGUF() throws { try check(architecture: "llama") }
}
