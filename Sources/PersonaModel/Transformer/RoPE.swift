// Rotary position embeddings. Two layouts:
// - `.neox` (Hugging Face `rotate_half`, Qwen2, and llama weights from a HF folder): dimension i is
//   paired with i + d/2;
// - `.interleaved` (llama-architecture GGUF files): llama.cpp's converter permutes the rows of
//   Q and K so that pairs are (2i, 2i+1). Rotating the permuted rows this way gives the same
//   attention as HF's rotate_half on the original rows (the permutation cancels in q·k).
// Frequencies follow HF: inv_freq[i] = 1 / base^(2i/d), angle = position · inv_freq (float32),
// optionally divided by per-dimension factors (llama 3 `rope_freqs`).
import Foundation

public enum RoPELayout: String, Sendable {
    case neox
    case interleaved
}

/// Precomputed inverse frequencies for one head dimension.
public struct RoPE: Sendable {
    public let layout: RoPELayout
    public let headDimension: Int
    let inverseFrequencies: [Float]

    public init(layout: RoPELayout, headDimension: Int, base: Double, frequencyFactors: [Float]? = nil) {
        self.layout = layout
        self.headDimension = headDimension
        let half = headDimension / 2
        inverseFrequencies = (0..<half).map { i in
            let exponent = Float(2 * i) / Float(headDimension)
            var f = 1 / Float(pow(base, Double(exponent)))
            if let factors = frequencyFactors, i < factors.count, factors[i] > 0 { f /= factors[i] }
            return f
        }
    }

    /// Rotates `heads` consecutive head vectors of `headDimension` floats at `position`, in place.
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        let half = headDimension / 2
        let p = Float(position)
        for i in 0..<half {
            let angle = p * inverseFrequencies[i]
            let c = Float(cos(Double(angle)))
            let s = Float(sin(Double(angle)))
            for h in 0..<heads {
                let v = x + h * headDimension
                let (a, b) = layout == .neox ? (i, i + half) : (2 * i, 2 * i + 1)
                let x0 = v[a], x1 = v[b]
                v[a] = x0 * c - x1 * s
                v[b] = x1 * c + x0 * s
            }
        }
    }
}
