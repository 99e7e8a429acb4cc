// Steering, capping, ablation and capture semantics on a tiny random-weight model.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaModel
@testable import PersonaCore

/// Records the first and last row of every span at one layer.
final class RowRecorder: LayerHook {
    let layer: Int
    var rows: [[[Float]]] = []  // per pass: rows of the first span
    init(layer: Int) { self.layer = layer }
    var layers: Set<Int>? { [layer] }
    func process(_ stream: ResidualStream) throws {
        let s = stream.spans[0]
        rows.append((s.rowStart..<(s.rowStart + s.rowCount)).map { Array(UnsafeBufferPointer(start: stream.row($0), count: stream.hiddenSize)) })
    }
}

final class SteeringTinyTests: XCTestCase {
    let tokens = [3, 9, 14, 2]
    func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

    /// Prefill + 2 decode steps with `hooks`; returns the rows recorded at layer 1 (after steering at layer 0).
    func run(_ model: Transformer, _ hooks: [LayerHook]) throws -> (rows: [[[Float]]], logits: [Float]) {
        let recorder = RowRecorder(layer: 1)
        let cache = model.makeCache()
        var logits: [Float] = []
        try model.withHooks(hooks + [recorder]) {
            logits = try model.forward([SequenceInput(tokens: tokens, cache: cache)])[0]
            logits = try model.forward([SequenceInput(tokens: [5], cache: cache)])[0]
            logits = try model.forward([SequenceInput(tokens: [6], cache: cache)])[0]
        }
        return (recorder.rows, logits)
    }

    func testPositionModes() throws {
        let model = try TinyModel.make()
        let v = (0..<16).map { Float($0 % 3) - 1 }
        let base = try run(model, [])
        func steered(_ p: SteeringPositions) throws -> [[[Float]]] {
            try run(model, [SteeringHook([SteeringSpec(vector: v, layer: 1, coefficient: 2, positions: p)], config: model.config)]).rows
        }
        // Steering at layer 1 is visible in the recorder at layer 1 (it runs after the steering hook).
        let all = try steered(.all), prompt = try steered(.prompt), response = try steered(.response)
        for pass in 0..<3 {
            for r in base.rows[pass].indices {
                XCTAssertGreaterThan(maxDiff(all[pass][r], base.rows[pass][r]), 0.5, "all: pass \(pass) row \(r)")
            }
        }
        // prompt: every prefill row, nothing on decode steps.
        for r in base.rows[0].indices { XCTAssertGreaterThan(maxDiff(prompt[0][r], base.rows[0][r]), 0.5) }
        // Steering the output of the last block cannot reach a later pass through the cache (K/V of
        // block 1 come from block 0's output), so the decode rows are exactly the baseline's.
        XCTAssertEqual(prompt[1][0], base.rows[1][0])
        XCTAssertEqual(prompt[2][0], base.rows[2][0])
        // response: only the last row of each pass; position 0 untouched.
        XCTAssertLessThan(maxDiff(response[0][0], base.rows[0][0]), 1e-6)
        XCTAssertGreaterThan(maxDiff(response[0][tokens.count - 1], base.rows[0][tokens.count - 1]), 0.5)
    }

    func testPromptModeLeavesDecodeStepsUntouched() throws {
        let model = try TinyModel.make()
        let v = [Float](repeating: 1, count: 16)
        // Steer at the last layer and record it: in decode passes the row must equal the unsteered
        // row computed from the same (steered) cache.
        let hook = try SteeringHook([SteeringSpec(vector: v, layer: 1, coefficient: 3, positions: .prompt)], config: model.config)
        let recorder = RowRecorder(layer: 1)
        let cache = model.makeCache()
        var prefillRows: [[Float]] = []
        try model.withHooks([hook, recorder]) {
            _ = try model.forward([SequenceInput(tokens: tokens, cache: cache)])
            prefillRows = recorder.rows[0]
            _ = try model.forward([SequenceInput(tokens: [5], cache: cache)])
        }
        let steeredDecodeRow = recorder.rows[1][0]
        // Same prefill with prompt steering, then a decode step with no hook at all.
        let cache2 = model.makeCache()
        try model.withHooks([hook]) { _ = try model.forward([SequenceInput(tokens: tokens, cache: cache2)]) }
        let plain = RowRecorder(layer: 1)
        try model.withHooks([plain]) { _ = try model.forward([SequenceInput(tokens: [5], cache: cache2)]) }
        XCTAssertEqual(steeredDecodeRow, plain.rows[0][0], "prompt mode must not touch decode steps")
        XCTAssertEqual(prefillRows.count, tokens.count)
    }

    func testZeroCoefficientIsBitIdenticalAndScopeRestores() throws {
        let model = try TinyModel.make()
        let base = try run(model, [])
        let v = (0..<16).map { Float($0) / 8 }
        for p in SteeringPositions.allCases {
            let zero = try run(model, [SteeringHook([SteeringSpec(vector: v, layer: 0, coefficient: 0, positions: p)], config: model.config)])
            XCTAssertEqual(zero.rows, base.rows)
            XCTAssertEqual(zero.logits, base.logits)
        }
        _ = try run(model, [SteeringHook([SteeringSpec(vector: v, layer: 0, coefficient: 4)], config: model.config)])
        XCTAssertEqual(model.hookCount, 0)
        XCTAssertEqual(try run(model, []).logits, base.logits)
    }

    func testMultipleVectorsAndValidation() throws {
        let model = try TinyModel.make()
        let v = [Float](repeating: 0.5, count: 16)
        let both = try SteeringHook(
            [
                SteeringSpec(vector: v, layer: 0, coefficient: 1, positions: .all),
                SteeringSpec(vector: v, layer: 1, coefficient: -1, positions: .all)
            ], config: model.config)
        XCTAssertEqual(both.layers, [0, 1])
        XCTAssertNotEqual(try run(model, [both]).logits, try run(model, []).logits)
        assertThrows(SteeringError.wrongWidth(what: "steering vector 0", expected: 16, found: 3)) {
            try SteeringHook([SteeringSpec(vector: [1, 2, 3], layer: 0, coefficient: 1)], config: model.config)
        }
        assertThrows(SteeringError.layerOutOfRange(layer: 2, layerCount: 2)) {
            try SteeringHook([SteeringSpec(vector: v, layer: 2, coefficient: 1)], config: model.config)
        }
    }

    func testCapFloorAndAblationSetTheProjection() throws {
        let model = try TinyModel.make()
        let direction = (0..<16).map { Float(($0 * 7) % 5) - 2 }
        let norm = direction.map { $0 * $0 }.reduce(0, +).squareRoot()
        let unit = direction.map { $0 / norm }
        func projections(_ hooks: [LayerHook]) throws -> [Float] {
            let rec = RowRecorder(layer: 1)
            try model.withHooks(hooks + [rec]) { _ = try model.forward([SequenceInput(tokens: tokens, cache: model.makeCache())]) }
            return rec.rows[0].map { row in zip(row, unit).map(*).reduce(0, +) }
        }
        let base = try projections([])
        let tau = (base.max()! + base.min()!) / 2
        let capped = try projections([ProjectionHook(direction: direction, layer: 1, intervention: .cap(threshold: tau), config: model.config)])
        let floored = try projections([ProjectionHook(direction: direction, layer: 1, intervention: .floor(threshold: tau), config: model.config)])
        let ablated = try projections([ProjectionHook(direction: direction, layer: 1, intervention: .ablate, config: model.config)])
        for i in base.indices {
            XCTAssertEqual(capped[i], min(base[i], tau), accuracy: 1e-4)
            XCTAssertEqual(floored[i], max(base[i], tau), accuracy: 1e-4)
            XCTAssertEqual(ablated[i], 0, accuracy: 1e-4)
        }
        assertThrows(SteeringError.zeroVector(what: "direction")) {
            try ProjectionHook(direction: [Float](repeating: 0, count: 16), layer: 0, intervention: .ablate, config: model.config)
        }
    }

    func testCaptureDuringGenerationAgreesWithCaptureOfGivenText() throws {
        let model = try TinyModel.make()
        let generator = Generator(model: model)
        generator.feedFinalToken = true
        let capture = ActivationCaptureHook(config: model.config)
        capture.expect(id: 0, promptLength: tokens.count)
        let result = try model.withHooks([capture]) {
            try generator.generate([GenerationRequest(promptTokens: tokens, maxNewTokens: 5)])[0]
        }
        let during = try XCTUnwrap(capture.summary(for: 0))
        XCTAssertEqual(during.promptTokenCount, tokens.count)
        XCTAssertEqual(during.responseTokenCount, result.responseTokens.count)
        // Same text in one pass, boundary = prompt length.
        let given = ActivationCaptureHook(config: model.config)
        given.expect(id: 7, promptLength: tokens.count)
        try model.withHooks([given]) {
            _ = try model.forward([SequenceInput(tokens: tokens + result.responseTokens, cache: model.makeCache(), id: 7)], logits: .none)
        }
        let after = try XCTUnwrap(given.summary(for: 7))
        for l in 0..<model.config.layerCount {
            XCTAssertGreaterThan(compare(during.responseMean[l], after.responseMean[l]).cosine, 0.9999)
            XCTAssertGreaterThan(compare(during.promptMean[l], after.promptMean[l]).cosine, 0.9999)
            XCTAssertGreaterThan(compare(during.promptLast[l], after.promptLast[l]).cosine, 0.9999)
        }
    }
}
