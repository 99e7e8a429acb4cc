// Steering against the reference `ActivationSteerer` runs (Hugging Face, float32): for every
// coefficient and positions mode, the prefill top-10 ids and the greedy continuation; plus the
// seed checks on the 135M model.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaModel
@testable import PersonaCore

final class SteeringReferenceTests: XCTestCase {
    func testSteeringRunsSmolLM2() throws { try checkRuns("smollm2-135m") }
    func testSteeringRunsQwen() throws { try checkRuns("qwen2.5-0.5b") }

    func checkRuns(_ name: String) throws {
        let reference = try Reference.load(name)
        let model = try LoadedModels.transformer(name)
        let steering = reference.json.dict("steering")
        let vector = steering.dict("vector").floats("v")
        let promptIDs = steering.ints("prompt_ids")
        XCTAssertFalse(vector.isEmpty, "\(name): the reference's steering.vector.v is empty")
        for run in try steering.cases("runs", in: "\(name) steering") {
            let layer = Int(try run.number("layer", in: "\(name) steering run"))
            let coeff = try run.number("coeff", in: "\(name) steering run")
            let positions = try XCTUnwrap(SteeringPositions(rawValue: run.string("positions") ?? ""))
            let label = "\(name) coeff \(coeff) \(positions)"
            let hook = try SteeringHook([SteeringSpec(vector: vector, layer: layer, coefficient: coeff, positions: positions)], config: model.config)
            let expected = run.ints("greedy_ids")
            let steps = try run.cases("steps", in: "\(label) steps")
            XCTAssertFalse(expected.isEmpty, "\(label): the reference's greedy_ids is empty")
            try model.withHooks([hook]) {
                let cache = model.makeCache()
                var logits = try model.forward([SequenceInput(tokens: promptIDs, cache: cache)])[0]
                let top10 = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(10)
                XCTAssertEqual(Array(top10), run.dict("prefill_last_logits_top10").ints("ids"), "\(label): prefill top-10")
                for step in 0..<expected.count {
                    let chosen = Sampler.argmax(logits)
                    if chosen != expected[step] {
                        guard step < steps.count else { throw ReferenceError(description: "\(label): no recorded step \(step) (\(steps.count) steps)") }
                        let s = steps[step], context = "\(label) step \(step)"
                        let gap = try s.number("logit", in: context) - s.number("runner_up_logit", in: context)
                        XCTAssertLessThan(gap, 0.01, "\(label): step \(step) chose \(chosen), reference \(expected[step]) (gap \(gap))")
                        print("\(label): diverged at step \(step) at a near-tie (gap \(gap))")
                        return
                    }
                    logits = try model.forward([SequenceInput(tokens: [chosen], cache: cache)])[0]
                }
            }
        }
    }

    // MARK: Seed checks on the 135M model

    final class Recorder: LayerHook {
        let layer: Int
        var passes: [[[Float]]] = []
        init(_ layer: Int) { self.layer = layer }
        var layers: Set<Int>? { [layer] }
        func process(_ s: ResidualStream) throws {
            passes.append((0..<s.rowCount).map { Array(UnsafeBufferPointer(start: s.row($0), count: s.hiddenSize)) })
        }
    }

    /// Prefill + 3 greedy decode steps, recording layer `record`.
    func run(_ model: Transformer, _ hooks: [LayerHook], record: Int) throws -> (passes: [[[Float]]], logits: [[Float]]) {
        let recorder = Recorder(record)
        let prompt = try Reference.load("smollm2-135m").json.dict("steering").ints("prompt_ids")
        var allLogits: [[Float]] = []
        try model.withHooks(hooks + [recorder]) {
            let cache = model.makeCache()
            var logits = try model.forward([SequenceInput(tokens: prompt, cache: cache)])[0]
            allLogits.append(logits)
            for _ in 0..<3 {
                logits = try model.forward([SequenceInput(tokens: [Sampler.argmax(logits)], cache: cache)])[0]
                allLogits.append(logits)
            }
        }
        return (recorder.passes, allLogits)
    }

    func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

    func testSeedChecksOn135M() throws {
        let model = try LoadedModels.transformer("smollm2-135m")
        let vector = try Reference.load("smollm2-135m").json.dict("steering").dict("vector").floats("v")
        let layer = 15
        func hook(_ coeff: Float, _ p: SteeringPositions) throws -> SteeringHook {
            try SteeringHook([SteeringSpec(vector: vector, layer: layer, coefficient: coeff, positions: p)], config: model.config)
        }
        let base = try run(model, [], record: layer + 1)
        // `all` changes the last token's hidden state after the steered layer.
        let all = try run(model, [hook(4, .all)], record: layer + 1)
        XCTAssertGreaterThan(maxDiff(all.passes[0].last!, base.passes[0].last!), 1e-2)
        // coeff = 0: bit-identical hidden states and logits.
        for p in SteeringPositions.allCases {
            let zero = try run(model, [hook(0, p)], record: layer + 1)
            XCTAssertEqual(zero.passes, base.passes, "\(p)")
            XCTAssertEqual(zero.logits, base.logits, "\(p)")
        }
        // After the scope ends, outputs equal the baseline.
        XCTAssertEqual(model.hookCount, 0)
        XCTAssertEqual(try run(model, [], record: layer + 1).logits, base.logits)
        // `response` changes the last position and leaves position 0 untouched (recorded at the steered layer).
        let atLayer = try run(model, [], record: layer)
        let response = try run(model, [hook(4, .response)], record: layer)
        XCTAssertLessThan(maxDiff(response.passes[0][0], atLayer.passes[0][0]), 1e-4)
        XCTAssertGreaterThan(maxDiff(response.passes[0].last!, atLayer.passes[0].last!), 1e-2)
        // `prompt` changes position 0 during prefill and nothing during decode steps.
        let prompt = try run(model, [hook(4, .prompt)], record: layer)
        XCTAssertGreaterThan(maxDiff(prompt.passes[0][0], atLayer.passes[0][0]), 1e-2)
        let plainDecode = try decodeRowsWithoutHook(model, steeredPrefill: hook(4, .prompt), layer: layer)
        XCTAssertEqual(prompt.passes[1][0], plainDecode, "prompt mode touched a decode step")
    }

    /// The first decode step's row at `layer` when only the prefill was steered.
    func decodeRowsWithoutHook(_ model: Transformer, steeredPrefill: LayerHook, layer: Int) throws -> [Float] {
        let prompt = try Reference.load("smollm2-135m").json.dict("steering").ints("prompt_ids")
        let cache = model.makeCache()
        let logits = try model.withHooks([steeredPrefill]) { try model.forward([SequenceInput(tokens: prompt, cache: cache)])[0] }
        let recorder = Recorder(layer)
        try model.withHooks([recorder]) { _ = try model.forward([SequenceInput(tokens: [Sampler.argmax(logits)], cache: cache)]) }
        return recorder.passes[0][0]
    }
}
