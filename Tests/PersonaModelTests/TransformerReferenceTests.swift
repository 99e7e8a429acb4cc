// The forward pass against Hugging Face transformers (float32, same GGUF files): every layer's
// hidden state at the first and last token, last-token logits, and the greedy continuation.
import Foundation
import XCTest
import PersonaTestSupport
@testable import PersonaModel
import PersonaTensor

/// Records every layer's first and last row of the first sequence.
final class CaptureHook: LayerHook {
    var layers: Set<Int>? { nil }
    var first: [Int: [Float]] = [:]
    var last: [Int: [Float]] = [:]
    func process(_ stream: ResidualStream) throws {
        let span = stream.spans[0]
        first[stream.layer] = Array(UnsafeBufferPointer(start: stream.row(span.rowStart), count: stream.hiddenSize))
        last[stream.layer] = Array(UnsafeBufferPointer(start: stream.row(span.rowStart + span.rowCount - 1), count: stream.hiddenSize))
    }
}

final class TransformerReferenceTests: XCTestCase {
    func testForwardSmolLM2() throws { try checkForward("smollm2-135m") }
    func testForwardQwen() throws { try checkForward("qwen2.5-0.5b") }
    func testGreedySmolLM2() throws { try checkGreedy("smollm2-135m") }
    func testGreedyQwen() throws { try checkGreedy("qwen2.5-0.5b") }

    func checkForward(_ name: String) throws {
        let reference = try Reference.load(name)
        let model = try LoadedModels.transformer(name)
        let layers = model.config.layerCount
        for prompt in try reference.json.dict("forward").cases("prompts", in: "\(name) forward") {
            let ids = prompt.ints("input_ids")
            let capture = CaptureHook()
            let logits = try model.withHooks([capture]) {
                try model.forward([SequenceInput(tokens: ids, cache: model.makeCache())], logits: .last)
            }[0]
            let label = "\(name)/\(prompt.string("name") ?? "?")"
            for (which, key, rows) in [("first", "hidden_states_first_token", capture.first), ("last", "hidden_states_last_token", capture.last)] {
                let expected = prompt.list(key).map { ($0 as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.floatValue } }
                XCTAssertEqual(expected.count, layers + 1)
                var worst = (layer: -1, cosine: 1.0, error: 0.0)
                for l in 0..<layers {
                    guard let mine = rows[l] else { XCTFail("\(label): layer \(l) not captured"); continue }
                    var target = expected[l + 1]
                    if l == layers - 1 {
                        // hidden_states[N] is after the final norm; compare our raw block output with the raw reference.
                        target = prompt.floats("last_block_raw_output_\(which)_token")
                        let normed = finalNorm(model, mine)
                        let (cn, en) = compare(normed, expected[layers])
                        XCTAssert(cn >= 0.99999 && en <= 1e-3, "\(label) \(which) final-norm hidden state: cosine \(cn), rel err \(en)")
                    }
                    let (cosine, error) = compare(mine, target)
                    if cosine < worst.cosine || error > worst.error { worst = (l, min(cosine, worst.cosine), max(error, worst.error)) }
                    XCTAssert(cosine >= 0.99999 && error <= 1e-3, "\(label) \(which) token layer \(l): cosine \(cosine), max rel err \(error)")
                }
                print("\(label) \(which) token: worst layer \(worst.layer) cosine \(worst.cosine) rel err \(worst.error)")
            }
            // Logits: top-20 ids identical, values within 1e-3 relative.
            let top = prompt.dict("last_logits_top20")
            let refIDs = top.ints("ids"), refValues = top.floats("values")
            let mineTop = logits.enumerated().sorted { $0.element > $1.element }.prefix(20)
            XCTAssertEqual(mineTop.map(\.offset), refIDs, "\(label): top-20 ids")
            let scale = refValues.map { abs($0) }.max() ?? 1
            var maxLogitError: Float = 0
            for (id, value) in zip(refIDs, refValues) { maxLogitError = max(maxLogitError, abs(logits[id] - value) / scale) }
            XCTAssertLessThanOrEqual(maxLogitError, 1e-3, "\(label): logits rel err \(maxLogitError)")
            print("\(label): logits max rel err \(maxLogitError)")
        }
    }

    func finalNorm(_ model: Transformer, _ x: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                Vector.rmsNorm(
                    src.baseAddress!, weight: model.weights.outputNorm.pointer, epsilon: Float(model.config.normEpsilon), into: dst.baseAddress!, count: x.count
                )
            }
        }
        return out
    }

    func checkGreedy(_ name: String) throws {
        let reference = try Reference.load(name)
        let model = try LoadedModels.transformer(name)
        let greedy = reference.json.dict("greedy")
        let noStop = greedy.dict("no_stop")
        let expected = noStop.ints("ids")
        let steps = try noStop.cases("steps", in: "\(name) greedy.no_stop")
        XCTAssertFalse(expected.isEmpty, "\(name): the reference's greedy.no_stop.ids is empty")
        let cache = model.makeCache()
        var logits = try model.forward([SequenceInput(tokens: greedy.ints("prompt_ids"), cache: cache)])[0]
        var produced: [Int] = []
        for step in 0..<expected.count {
            let argmax = logits.indices.max { logits[$0] < logits[$1] }!
            if argmax != expected[step] {
                // A divergence is only acceptable at a recorded near-tie.
                guard step < steps.count else {
                    throw ReferenceError(description: "\(name): no recorded step \(step) in greedy.no_stop.steps (\(steps.count) steps)")
                }
                let s = steps[step], context = "\(name) greedy step \(step)"
                let gap = try s.number("logit", in: context) - s.number("runner_up_logit", in: context)
                XCTAssertLessThan(gap, 1e-3, "\(name): step \(step) chose \(argmax), reference \(expected[step]) (gap \(gap))")
                print("\(name): diverged at step \(step) at a near-tie (gap \(gap))")
                return
            }
            produced.append(argmax)
            logits = try model.forward([SequenceInput(tokens: [argmax], cache: cache)])[0]
        }
        XCTAssertEqual(produced, expected)
    }
}
