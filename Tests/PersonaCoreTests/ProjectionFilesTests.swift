// `--cap FILE` / `--ablate FILE` through `ProjectionSpec`: vector files become one ProjectionHook per
// layer, and over a whole generation the stream after them satisfies the intervention's contract.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaModel
@testable import PersonaCore

/// Records every row of every pass at every layer (after the hooks added before it).
final class AllLayerRecorder: LayerHook {
    var rows: [Int: [[Float]]] = [:]
    var layers: Set<Int>? { nil }
    func process(_ stream: ResidualStream) throws {
        for s in stream.spans {
            for r in s.rowStart..<(s.rowStart + s.rowCount) {
                rows[stream.layer, default: []].append(Array(UnsafeBufferPointer(start: stream.row(r), count: stream.hiddenSize)))
            }
        }
    }
}

final class ProjectionFilesTests: XCTestCase {
    let prompt = [3, 9, 14, 2, 7]

    func unit(_ v: [Float]) -> [Float] {
        let n = v.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
        return v.map { Float(Double($0) / n) }
    }
    func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map(*).reduce(0, +) }

    /// Generates 6 tokens greedily with `hooks` and a recorder after them.
    func record(_ model: Transformer, _ hooks: [LayerHook]) throws -> [Int: [[Float]]] {
        let recorder = AllLayerRecorder()
        _ = try model.withHooks(hooks + [recorder]) {
            try Generator(model: model).generate([GenerationRequest(promptTokens: prompt, maxNewTokens: 6)])
        }
        return recorder.rows
    }

    func writeVectors(_ rows: [[Float]], single: Bool = false) throws -> String {
        let url = try TestPaths.temporaryDirectory().appendingPathComponent("v.safetensors")
        try TraitVectors(rows: rows, isSingle: single).write(to: url)
        return url.path
    }

    func testAblationFromFileRemovesTheProjectionAtEveryLayer() throws {
        let model = try TinyModel.make()
        let rows: [[Float]] = (0..<2).map { (l: Int) -> [Float] in (0..<16).map { (i: Int) -> Float in Float(((i + 3 * l) * 7) % 5) - 2 } }
        let path = try writeVectors(rows)
        let hooks = try ProjectionSpec(path: path, intervention: .ablate).makeHooks(config: model.config)
        XCTAssertEqual(hooks.map(\.layer), [0, 1])
        let base = try record(model, [])
        let ablated = try record(model, hooks)
        for l in 0..<2 {
            let u = unit(rows[l])
            XCTAssertGreaterThan(base[l]!.map { abs(dot($0, u)) }.max()!, 1e-2, "the baseline must have something to remove")
            for (i, h) in ablated[l]!.enumerated() {
                XCTAssertLessThan(abs(dot(h, u)), 1e-5, "layer \(l) row \(i): |h·v̂| = \(abs(dot(h, u)))")
            }
        }
    }

    func testOneDirectionAtChosenLayers() throws {
        let model = try TinyModel.make()
        let rows: [[Float]] = (0..<2).map { (l: Int) -> [Float] in (0..<16).map { (i: Int) -> Float in Float((i + l) % 4) - 1.5 } }
        let path = try writeVectors(rows)
        // Row 0 used at block 1 only.
        let hooks = try ProjectionSpec(path: path, intervention: .ablate, layers: [1], directionLayer: 0).makeHooks(config: model.config)
        XCTAssertEqual(hooks.map(\.layer), [1])
        let ablated = try record(model, hooks)
        let u0 = unit(rows[0])
        for h in ablated[1]! { XCTAssertLessThan(abs(dot(h, u0)), 1e-5) }
        // A single-vector file applies at every chosen layer.
        let single = try writeVectors([rows[1]], single: true)
        let both = try ProjectionSpec(path: single, intervention: .ablate).makeHooks(config: model.config)
        XCTAssertEqual(both.map(\.layer), [0, 1])
    }

    func testCappingNeverLetsTheProjectionPassTau() throws {
        let model = try TinyModel.make()
        let direction = (0..<16).map { Float(($0 * 5) % 7) - 3 }
        let path = try writeVectors([direction], single: true)
        let u = unit(direction)
        let base = try record(model, [])
        for l in 0..<2 {
            let projections = base[l]!.map { dot($0, u) }
            // τ inside the range, so that some rows are capped and some are not.
            let tau = (projections.max()! + projections.min()!) / 2
            let hooks = try ProjectionSpec(path: path, intervention: .cap(threshold: tau), layers: [l]).makeHooks(config: model.config)
            let capped = try record(model, hooks)
            var touched = 0
            for (i, h) in capped[l]!.enumerated() {
                let p = dot(h, u)
                XCTAssertLessThanOrEqual(p, tau + 1e-5, "layer \(l) row \(i): projection \(p) passed τ = \(tau)")
                if abs(p - tau) < 1e-4 { touched += 1 }
            }
            XCTAssertGreaterThan(touched, 0, "layer \(l): τ must bind somewhere")
        }
    }

    func testErrorsNameTheFileAndTheRow() throws {
        let model = try TinyModel.make()
        let path = try writeVectors([[Float](repeating: 1, count: 16), [Float](repeating: 0, count: 16)])
        assertThrows(SteeringError.zeroVector(what: "\(path) row 1")) {
            try ProjectionSpec(path: path, intervention: .ablate).makeHooks(config: model.config)
        }
        assertThrows(SteeringError.layerOutOfRange(layer: 5, layerCount: 2)) {
            try ProjectionSpec(path: path, intervention: .ablate, layers: [5]).makeHooks(config: model.config)
        }
        let narrow = try writeVectors([[1, 2, 3]], single: true)
        assertThrows(VectorFileError.widthMismatch(path: narrow, width: 3, hiddenSize: 16)) {
            try ProjectionSpec(path: narrow, intervention: .ablate).makeHooks(config: model.config)
        }
    }
}
