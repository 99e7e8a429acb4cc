// The sort-free sampler against the sorting reference: the same kept set with the same weights on
// many seeded logit vectors (ties, top-k, top-p, both), the same distribution in a chi-square test
// on fixed logits, reproducible per seed, and its cost per token on a 151,936-token vocabulary.
import Foundation
import XCTest
@testable import PersonaModel

final class SamplingTests: XCTestCase {
    /// Seeded logits shaped like a language model's: most near 0, a few far above, some ties.
    func logits(count: Int, seed: UInt64, ties: Bool) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            let u = g.nextUnit()
            var l = Float(-log(-log(max(u, 1e-300))) * 2)  // Gumbel-shaped tail
            if ties { l = (l * 2).rounded() / 2 }  // many exact ties
            return l
        }
    }

    func kept(_ logits: [Float], _ p: SamplingParameters) -> [Int: Double] {
        var w: [Float] = [], c: [Double] = []
        guard let candidates = Sampler.candidates(logits, p, weights: &w, chunkSums: &c) else { return [:] }
        switch candidates {
        case .all(let total):
            return Dictionary(uniqueKeysWithValues: w.enumerated().filter { $0.element > 0 }.map { ($0.offset, Double($0.element) / total) })
        case .list(let ids, let weights, let total):
            return Dictionary(uniqueKeysWithValues: zip(ids, weights.map { $0 / total }).map { ($0, $1) })
        }
    }

    func testKeptSetAndWeightsEqualTheSortingReference() {
        let settings: [SamplingParameters] = [
            .init(temperature: 1), .init(temperature: 0.7, topK: 40), .init(temperature: 1, topP: 0.9),
            .init(temperature: 1.3, topP: 0.5, topK: 100), .init(temperature: 1, topP: 0.0), .init(temperature: 1, topK: 1),
            .init(temperature: 0.5, topP: 0.95, topK: 3000)
        ]
        for seed in UInt64(1)...12 {
            for ties in [false, true] {
                let l = logits(count: 5000 + Int(seed) * 37, seed: seed, ties: ties)
                for p in settings {
                    let reference = Sampler.referenceCandidates(l, p)
                    let fast = kept(l, p)
                    XCTAssertEqual(Set(fast.keys), Set(reference.ids), "seed \(seed) ties \(ties) \(p)")
                    var worst = 0.0
                    for (id, w) in zip(reference.ids, reference.weights) where w > 1e-30 {
                        worst = max(worst, abs((fast[id] ?? 0) - w) / w)
                    }
                    // Float exp (2 ulp) against double exp: relative weight error ≤ 1e-5.
                    XCTAssertLessThan(worst, 1e-5, "seed \(seed) ties \(ties) \(p)")
                }
            }
        }
    }

    func testDistributionMatchesReferenceChiSquare() {
        // Fixed logits over 60 tokens with ties; 200,000 seeded draws; expected counts from the
        // reference's weights (measured: chi-square 55.8 at df 59, 18.4 at df 15, 14.0 at df 11).
        var l: [Float] = (0..<60).map { Float($0 % 17) * 0.25 - Float($0 / 17) }
        l[5] = l[6]
        for p in [
            SamplingParameters(temperature: 1, seed: 7), SamplingParameters(temperature: 0.8, topP: 0.9, topK: 30, seed: 8),
            SamplingParameters(temperature: 1.5, topK: 12, seed: 9)
        ] {
            var sampler = Sampler(p)
            let draws = 200_000
            var counts = [Int](repeating: 0, count: l.count)
            for _ in 0..<draws { counts[sampler.next(l)] += 1 }
            let reference = Sampler.referenceCandidates(l, p)
            var expected = [Double](repeating: 0, count: l.count)
            for (id, w) in zip(reference.ids, reference.weights) { expected[id] = w * Double(draws) }
            var chi = 0.0, df = -1
            for i in l.indices {
                if expected[i] == 0 { XCTAssertEqual(counts[i], 0, "token \(i) outside the kept set was drawn"); continue }
                chi += pow(Double(counts[i]) - expected[i], 2) / expected[i]; df += 1
            }
            // The chi-square critical value at p = 1e-6 is 125.7 for df 59 and lower for fewer.
            XCTAssertLessThan(chi, 125, "\(p): chi-square \(chi) with \(df) degrees of freedom")
        }
    }

    func testSeededAndReproducibleAndNonFiniteFallsBack() {
        let l = logits(count: 2000, seed: 3, ties: false)
        let p = SamplingParameters(temperature: 1, topP: 0.9, seed: 42)
        var a = Sampler(p), b = Sampler(p)
        XCTAssertEqual((0..<50).map { _ in a.next(l) }, (0..<50).map { _ in b.next(l) })
        var bad = l; bad[10] = .nan
        var c = Sampler(p), d = Sampler(p)
        XCTAssertEqual(c.next(bad), d.referenceNext(bad))
        var big = l; big[3] = .infinity
        var e = Sampler(p), f = Sampler(p)
        XCTAssertEqual(e.next(big), f.referenceNext(big))
    }

    func testCostPerTokenOnTheQwenVocabulary() {
        let l = logits(count: 151_936, seed: 11, ties: false)
        for p in [
            SamplingParameters(temperature: 1, seed: 1), SamplingParameters(temperature: 1, topP: 0.9, seed: 1),
            SamplingParameters(temperature: 0.7, topK: 40, seed: 1)
        ] {
            var fast = Sampler(p), reference = Sampler(p)
            var sink = 0
            let rounds = 20
            var start = Date()
            for _ in 0..<rounds { sink &+= reference.referenceNext(l) }
            let referenceMs = Date().timeIntervalSince(start) * 1000 / Double(rounds)
            start = Date()
            for _ in 0..<rounds { sink &+= fast.next(l) }
            let fastMs = Date().timeIntervalSince(start) * 1000 / Double(rounds)
            print(
                String(
                    format: "sampling 151936 tokens, T=%.1f top-p=%.2f top-k=%d: sorted %.2f ms, sort-free %.3f ms per token (%d)",
                    p.temperature, p.topP, p.topK, referenceMs, fastMs, sink & 1))
        }
    }
}
