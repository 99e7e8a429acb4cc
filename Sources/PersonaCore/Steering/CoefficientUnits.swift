// Norm-calibrated steering coefficients. A raw coefficient c adds c·v_L, whose effect depends on
// ‖v_L‖ and on how large the residual stream is at layer L — both differ by an order of magnitude
// across layers and models, so a raw "c = 4" means nothing on its own. In norm units:
//
//     added vector = c · meanNorm_L · v_L / ‖v_L‖        i.e.  raw coefficient = c · meanNorm_L / ‖v_L‖
//
// so c = 0.1 adds a vector one tenth as long as the layer's typical residual row, whatever the
// layer, the model or the vector's own length.
//
// meanNorm_L is the mean Euclidean norm ‖h_L‖ of the residual stream after block L over the prompt
// tokens of the extraction questions (each asked alone through the chat template, no system
// prompt), skipping position 0: in Qwen- and Llama-style models the first token's residual row is
// an "attention sink" tens of times longer than the others, and one such row per prompt would
// dominate the mean.
import PersonaModel

/// The unit of a steering coefficient.
public enum CoefficientUnit: String, Codable, Sendable, CaseIterable {
    /// c multiplies the vector as stored.
    case raw
    /// c is the added vector's length in units of the layer's mean residual norm.
    case norm

    /// The raw coefficient for `c` in this unit at a layer whose mean residual norm is `meanNorm`,
    /// for a vector of length `vectorNorm` (0 for a zero vector, which adds nothing anyway).
    public func rawCoefficient(_ c: Double, meanNorm: Double, vectorNorm: Double) -> Double {
        switch self {
        case .raw: return c
        case .norm: return vectorNorm > 0 ? c * meanNorm / vectorNorm : 0
        }
    }

    /// `raw` expressed in norm units (the inverse of `rawCoefficient` for `.norm`).
    public static func normCoefficient(raw: Double, meanNorm: Double, vectorNorm: Double) -> Double {
        meanNorm > 0 ? raw * vectorNorm / meanNorm : 0
    }
}

/// Accumulates ‖h_L‖ over rows at positions ≥ 1 (see the file header), per layer.
public final class ResidualNormHook: LayerHook {
    public let layers: Set<Int>? = nil
    private(set) var sums: [Double]
    private(set) var counts: [Int]

    public init(layerCount: Int) {
        sums = Array(repeating: 0, count: layerCount)
        counts = Array(repeating: 0, count: layerCount)
    }

    public func process(_ stream: ResidualStream) throws {
        let l = stream.layer
        guard l < sums.count else { return }
        for span in stream.spans {
            for i in 0..<span.rowCount where span.startPosition + i >= 1 {
                let row = stream.row(span.rowStart + i)
                var s = 0.0
                for j in 0..<stream.hiddenSize { s += Double(row[j]) * Double(row[j]) }
                sums[l] += s.squareRoot()
                counts[l] += 1
            }
        }
    }

    /// Mean norm per layer (0 where no row was seen).
    public var meanNorms: [Double] { zip(sums, counts).map { $1 > 0 ? $0 / Double($1) : 0 } }
}

public enum ResidualNorms {
    /// Mean ‖h_L‖ per layer over the prompts' tokens at positions ≥ 1, unsteered, in batches.
    public static func measure(prompts: [[Int]], transformer: Transformer, batchSize: Int = 8) throws -> [Double] {
        let hook = ResidualNormHook(layerCount: transformer.config.layerCount)
        try transformer.withHooks([hook]) {
            var start = 0
            while start < prompts.count {
                let end = min(start + max(batchSize, 1), prompts.count)
                _ = try transformer.forward(
                    (start..<end).map { SequenceInput(tokens: prompts[$0], cache: transformer.makeCache(), id: $0) },
                    logits: .none)
                start = end
            }
        }
        return hook.meanNorms
    }

    /// ‖v‖ in double precision.
    public static func norm(_ v: [Float]) -> Double { v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }
}
