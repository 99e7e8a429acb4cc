// The fast path (int8 activations, integer products) against Hugging Face float32: every layer's
// hidden state within cosine 0.999 at the first and last token of every reference prompt, the
// top-1 next token equal on every prompt, and the greedy continuation equal for its first 16
// tokens (issue 21, item 2). The exact path's golden tests are TransformerReferenceTests.
import Foundation
import XCTest
import PersonaTestSupport
@testable import PersonaModel
import PersonaTensor

final class FastPathFidelityTests: XCTestCase {
    static let minimumCosine = 0.999

    func testFastPathSmolLM2() throws { try checkFastPath("smollm2-135m") }
    func testFastPathQwen() throws { try checkFastPath("qwen2.5-0.5b") }

    /// The fast path reads the weights in the file's format only: a model loaded and run that way
    /// holds no float32 copy of any linear weight or of the embedding table (peak memory follows
    /// what runs; issue 21, item 5). The exact path makes the copies its sgemm prefill needs, on first use, and its
    /// logits are those of a model that was never run fast.
    func testFastPathMakesNoFloat32WeightCopies() throws {
        let source = try ModelSource.open(path: TestPaths.model("smollm2-135m"))
        let model = try Transformer(source: source)
        func float32Weights() -> [String] {
            var held: [String] = model.weights.tokenEmbedding.holdsFloat32 ? ["token_embd"] : []
            if model.weights.output.holdsFloat32 { held.append("output") }
            for (l, b) in model.weights.blocks.enumerated() {
                for (name, w) in [("q", b.query), ("k", b.key), ("v", b.value), ("o", b.attentionOutput), ("gate", b.gate), ("up", b.up), ("down", b.down)]
                where w.holdsFloat32 {
                    held.append("blk.\(l).\(name)")
                }
            }
            return held
        }
        XCTAssertEqual(float32Weights(), [], "loading made float32 copies")
        let prompt = [1, 504, 3458, 282, 4649, 314]
        model.arithmetic = .fast
        let cache = model.makeCache()
        let fastLogits = try model.forward([SequenceInput(tokens: prompt, cache: cache)])[0]
        _ = try model.forward([SequenceInput(tokens: [Sampler.argmax(fastLogits)], cache: cache)])
        XCTAssertEqual(float32Weights(), [], "the fast path made float32 copies")
        model.arithmetic = .exact
        let exactLogits = try model.forward([SequenceInput(tokens: prompt, cache: model.makeCache())])[0]
        // Exact prefill runs sgemm on the copies, except where the AVX-512 fused kernels take it
        // (LinearLayer.swift); the logits use the quantized kernel on both paths, and lookups
        // decode rows.
        let fusedPrefill = model.weights.blocks[0].query.quantized?.kernelLevel == .avx512 && !prefillThroughSgemm
        XCTAssertEqual(
            float32Weights().count, fusedPrefill ? 0 : 7 * model.config.layerCount,
            "the exact prefill's copies: every block weight if it ran sgemm (fused AVX-512 prefill: \(fusedPrefill))")
        XCTAssertFalse(float32Weights().contains("token_embd"))
        let reference = try LoadedModels.transformer("smollm2-135m")
        XCTAssertEqual(exactLogits, try reference.forward([SequenceInput(tokens: prompt, cache: reference.makeCache())])[0])
    }

    func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var ab = 0.0, aa = 0.0, bb = 0.0
        for (x, y) in zip(a, b) { ab += Double(x) * Double(y); aa += Double(x) * Double(x); bb += Double(y) * Double(y) }
        return ab / max((aa * bb).squareRoot(), 1e-30)
    }

    func checkFastPath(_ name: String) throws {
        let reference = try Reference.load(name)
        let model = try LoadedModels.transformer(name)
        model.arithmetic = .fast
        defer { model.arithmetic = .exact }
        let layers = model.config.layerCount
        var worstCosine = 1.0
        for prompt in try reference.json.dict("forward").cases("prompts", in: "\(name) forward") {
            let ids = prompt.ints("input_ids")
            let capture = CaptureHook()
            let logits = try model.withHooks([capture]) {
                try model.forward([SequenceInput(tokens: ids, cache: model.makeCache())], logits: .last)
            }[0]
            let label = "\(name)/\(prompt.string("name") ?? "?") fast"
            for (which, key, rows) in [("first", "hidden_states_first_token", capture.first), ("last", "hidden_states_last_token", capture.last)] {
                let expected = prompt.list(key).map { ($0 as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.floatValue } }
                for l in 0..<layers {
                    guard let mine = rows[l] else { XCTFail("\(label): layer \(l) not captured"); continue }
                    // The last block's raw output (hidden_states[N] is after the final norm).
                    let target = l == layers - 1 ? prompt.floats("last_block_raw_output_\(which)_token") : expected[l + 1]
                    let c = cosine(mine, target)
                    worstCosine = min(worstCosine, c)
                    XCTAssertGreaterThanOrEqual(c, Self.minimumCosine, "\(label) \(which) token layer \(l)")
                }
            }
            let top1 = prompt.dict("last_logits_top20").ints("ids").first
            XCTAssertEqual(Sampler.argmax(logits), top1, "\(label): top-1 next token")
        }
        // Greedy continuation: its first 16 tokens.
        let greedy = reference.json.dict("greedy")
        let expected = Array(greedy.dict("no_stop").ints("ids").prefix(16))
        let cache = model.makeCache()
        var logits = try model.forward([SequenceInput(tokens: greedy.ints("prompt_ids"), cache: cache)])[0]
        var produced: [Int] = []
        for _ in 0..<expected.count {
            let token = Sampler.argmax(logits)
            produced.append(token)
            logits = try model.forward([SequenceInput(tokens: [token], cache: cache)])[0]
        }
        XCTAssertEqual(produced, expected, "\(name): fast greedy continuation, first 16 tokens")
        print("\(name) fast path: worst layer cosine \(worstCosine); greedy first 16 equal: \(produced == expected)")
    }
}
