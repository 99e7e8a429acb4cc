// A tiny random-weight model, built as a GGUF in memory: shapes, KV cache consistency, ragged
// batching, and the hook plumbing — no model file needed.
import Foundation
import XCTest
import PersonaTestSupport
@testable import PersonaModel
import PersonaTensor

/// Adds a constant to every row of one layer.
final class AddHook: LayerHook {
    let layer: Int
    let amount: Float
    var calls: [(layer: Int, kinds: [PassKind], positions: [Int])] = []
    init(layer: Int, amount: Float) { self.layer = layer; self.amount = amount }
    var layers: Set<Int>? { [layer] }
    func process(_ stream: ResidualStream) throws {
        calls.append((stream.layer, stream.spans.map(\.kind), stream.spans.map(\.startPosition)))
        for r in 0..<stream.rowCount { for i in 0..<stream.hiddenSize { stream.row(r)[i] += amount } }
    }
}

final class FailingHook: LayerHook {
    struct Boom: Error {}
    var layers: Set<Int>? { nil }
    func process(_ stream: ResidualStream) throws { throw Boom() }
}

final class TinyModelTests: XCTestCase {
    func maxDifference(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

    func testShapesAndIncrementalDecodingMatchesFullPrefill() throws {
        for arch in ["qwen2", "llama"] {
            let model = try TinyModel.make(architecture: arch)
            XCTAssertEqual(model.config.headDimension, 4)
            let tokens = [3, 17, 5, 39, 0, 22]
            let full = try model.forward([SequenceInput(tokens: tokens, cache: model.makeCache())], logits: .all)
            XCTAssertEqual(full.count, tokens.count)
            XCTAssertEqual(full[0].count, 40)
            let cache = model.makeCache(capacity: 1)  // forces the cache to grow
            _ = try model.forward([SequenceInput(tokens: Array(tokens.prefix(3)), cache: cache)])
            var last: [Float] = []
            for t in tokens.dropFirst(3) { last = try model.forward([SequenceInput(tokens: [t], cache: cache)])[0] }
            XCTAssertEqual(cache.count, tokens.count)
            XCTAssertLessThan(maxDifference(last, full[tokens.count - 1]), 1e-4, arch)
        }
    }

    func testRaggedBatchEqualsSequencesAlone() throws {
        let model = try TinyModel.make()
        let a = [1, 2, 3, 4, 5], b = [9, 8]
        let alone = try [a, b].map { try model.forward([SequenceInput(tokens: $0, cache: model.makeCache())])[0] }
        let together = try model.forward([SequenceInput(tokens: a, cache: model.makeCache()), SequenceInput(tokens: b, cache: model.makeCache())])
        // Bit-identical: each sequence's rows are computed by calls that see only that sequence.
        XCTAssertEqual(alone[0], together[0])
        XCTAssertEqual(alone[1], together[1])
    }

    /// A pass reuses the scratch buffers earlier passes left (RunState): a larger pass before, with
    /// other tokens and all logits, changes nothing in a later one, bit for bit; passes on several
    /// threads at once take separate states.
    func testPassesDoNotSeeEachOthersScratch() throws {
        let fresh = try TinyModel.make(), used = try TinyModel.make()
        let prompt = [3, 7, 1]
        let expected = try fresh.forward([SequenceInput(tokens: prompt, cache: fresh.makeCache())], logits: .all)
        _ = try used.forward([SequenceInput(tokens: Array(repeating: 39, count: 40), cache: used.makeCache())], logits: .all)
        XCTAssertEqual(try used.forward([SequenceInput(tokens: prompt, cache: used.makeCache())], logits: .all), expected)
        var concurrent = [[[Float]]](repeating: [], count: 8)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let tokens = i % 2 == 0 ? prompt : Array(repeating: 20 + i, count: 5 + i)
            let result = (try? used.forward([SequenceInput(tokens: tokens, cache: used.makeCache())], logits: .all)) ?? []
            lock.lock(); concurrent[i] = result; lock.unlock()
        }
        for i in stride(from: 0, to: 8, by: 2) { XCTAssertEqual(concurrent[i], expected, "pass \(i), run beside others") }
    }

    func testHooksSeeLayersKindsPositionsAndCanModify() throws {
        let model = try TinyModel.make()
        let baseline = try model.forward([SequenceInput(tokens: [4, 5, 6], cache: model.makeCache())])[0]
        let hook = AddHook(layer: 1, amount: 0.5)
        let cache = model.makeCache()
        let steered = try model.withHooks([hook]) {
            let first = try model.forward([SequenceInput(tokens: [4, 5, 6], cache: cache)])[0]
            _ = try model.forward([SequenceInput(tokens: [7], cache: cache)])
            return first
        }
        XCTAssertEqual(model.hookCount, 0, "scope removed the hook")
        XCTAssertGreaterThan(maxDifference(baseline, steered), 1e-3, "the hook changed the output")
        XCTAssertEqual(hook.calls.count, 2)
        XCTAssertEqual(hook.calls[0].layer, 1)
        XCTAssertEqual(hook.calls[0].kinds, [.prefill])
        XCTAssertEqual(hook.calls[1].kinds, [.decode])
        XCTAssertEqual(hook.calls[1].positions, [3])
        let after = try model.forward([SequenceInput(tokens: [4, 5, 6], cache: model.makeCache())])[0]
        XCTAssertEqual(after, baseline, "bit-identical once the scope ended")
    }

    func testFailingHookIsRemovedAndErrorsAreReported() throws {
        let model = try TinyModel.make()
        XCTAssertThrowsError(
            try model.withHooks([FailingHook()]) {
                try model.forward([SequenceInput(tokens: [1], cache: model.makeCache())])
            })
        XCTAssertEqual(model.hookCount, 0)
        assertThrows(TransformerError.tokenOutOfRange(token: 40, vocabularySize: 40)) {
            try model.forward([SequenceInput(tokens: [40], cache: model.makeCache())])
        }
        assertThrows(TransformerError.badBatch(reason: "sequence 0 has no tokens")) {
            try model.forward([SequenceInput(tokens: [], cache: model.makeCache())])
        }
        let shared = model.makeCache()
        XCTAssertThrowsError(try model.forward([SequenceInput(tokens: [1], cache: shared), SequenceInput(tokens: [2], cache: shared)]))
    }
}
