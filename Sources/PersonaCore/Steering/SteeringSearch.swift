// The steering search: over layers × coefficients, measured by judge-free signals that need no
// sampling at the searched points, then the choice of one point per trait.
//
// Signals at each (layer L, coefficient c):
// - effect: mean P(trait answer) of the behavioural measure (Pipeline/BehaviorStage.swift) on the
//   MEASUREMENT items only (never the ones a written vector was made from), minus its value at c = 0;
// - coherence proxy: KL(p_unsteered ‖ p_steered) per token, estimated on the unsteered model's own
//   greedy answers to neutral prompts: mean over answer tokens of log p_u(x_t) − log p_s(x_t).
//   Since those answers are (approximately) drawn from p_u, this is the per-token KL from the
//   unsteered model to the steered one — how much steering costs the model's ordinary fluent
//   speech. It is exactly 0 at c = 0, needs one teacher-forced pass per point (no sampling at
//   the point), and grows as steering breaks the text ("I wanted. I wanted." has a huge cost).
//   Why not the KL of the first next-token distribution: one position says little about the
//   degeneration that appears a few tokens later.
//
// Choice: among points whose coherence cost is ≤ the floor (`maxKL`), the largest effect; ties
// go to the smaller |c|, then the smaller layer. No point qualifies → no choice, and the reason.
//
// Layer sets (`Grid.layerSets`, `persona search --layers 6+9+12`): the vector steers every layer
// of the set at once, each with the coefficient c in the grid's unit of that layer (in norm units
// each layer gets c × its own mean residual norm). Spreading one push over several blocks is the
// lever tried when no single layer moves the trait within the coherence floor. A set is searched
// and reported like a layer; `persona run` steers single layers only, so its search has none.
import Foundation
import PersonaModel

/// One searched point.
public struct SearchPoint: Codable, Equatable, Sendable {
    /// The steered layer; for a layer set, its first.
    public var layer: Int
    /// A layer set's layers (nil: the one layer `layer`).
    public var layers: [Int]? = nil
    /// In the search's unit (`SearchResult.coefficientUnit`).
    public var coefficient: Double
    /// The raw coefficient at `layer` (a layer set's other layers have their own, from their norms).
    public var rawCoefficient: Double
    /// Mean P(trait answer) on the measurement items.
    public var traitProbability: Double
    /// traitProbability − its value unsteered.
    public var effect: Double
    /// KL(p_unsteered ‖ p_steered) per token on the neutral answers (nats).
    public var coherenceCost: Double
    public init(layer: Int, coefficient: Double, rawCoefficient: Double, traitProbability: Double, effect: Double, coherenceCost: Double) {
        self.layer = layer; self.coefficient = coefficient; self.rawCoefficient = rawCoefficient
        self.traitProbability = traitProbability; self.effect = effect; self.coherenceCost = coherenceCost
    }

    /// "12", or "6+9+12" for a layer set.
    public var layerLabel: String { (layers ?? [layer]).map(String.init).joined(separator: "+") }
}

/// The search of one trait (`report.json`: `traits[].search`).
public struct SearchResult: Codable, Equatable, Sendable {
    public var trait: String
    public var source: String
    public var coefficientUnit: String
    /// The coherence floor: the largest KL per token a chosen point may cost.
    public var maxKL: Double
    public var baselineTraitProbability: Double
    public var measurementItems: Int
    public var points: [SearchPoint]
    public var chosen: SearchPoint?
    /// Why this point (or why none).
    public var reason: String
    /// Projection interventions held at every point, the unsteered baseline included (`--ablate`, `--cap`); nil: none.
    public var interventions: [String]? = nil
    /// The searched vector's anti-steerable fraction at the chosen layer (Steerability.swift): the
    /// share of measurement items whose log-ratio m(trait) − m(other) falls as the coefficient rises
    /// over every searched coefficient of that layer (nil: no choice, or a result stored before it).
    public var antiSteerableFraction: Double? = nil
    /// The steering positions of every point (nil: a result stored before they were recorded).
    public var positions: SteeringPositions? = nil
}

public enum SteeringSearch {
    /// Default coherence floor (nats per token of KL from the unsteered model).
    public static let defaultMaxKL = 0.5

    /// Neutral prompts for the coherence proxy: everyday requests with no trait in them.
    public static let neutralPrompts = [
        "What is the capital of France?",
        "Give me three tips for sleeping better.",
        "Explain what photosynthesis is in two sentences.",
        "How do I boil an egg?"
    ]

    /// The point with the largest effect whose coherence cost is ≤ `maxKL` (see the file header).
    public static func choose(_ points: [SearchPoint], maxKL: Double) -> (point: SearchPoint?, reason: String) {
        let coherent = points.filter { $0.coherenceCost <= maxKL && $0.coefficient != 0 }
        guard
            let best = coherent.min(by: { a, b in
                if a.effect != b.effect { return a.effect > b.effect }
                if abs(a.coefficient) != abs(b.coefficient) { return abs(a.coefficient) < abs(b.coefficient) }
                return a.layer < b.layer
            })
        else {
            let cheapest = points.filter { $0.coefficient != 0 }.map(\.coherenceCost).min()
            return (
                nil,
                String(
                    format: "no steered point stays under the coherence floor (KL ≤ %.2f nats/token; the cheapest costs %@)",
                    maxKL, cheapest.map { String(format: "%.2f", $0) } ?? "nothing: no steered point was searched")
            )
        }
        guard best.effect > 0 else {
            return (nil, String(format: "no coherent point raises P(trait answer) above the unsteered value (best change %+.3f)", best.effect))
        }
        let over = points.filter { $0.coherenceCost > maxKL && $0.effect > best.effect }.count
        return (
            best,
            String(
                format: "largest rise of P(trait answer) (%+.3f) among the %d of %d points with KL ≤ %.2f nats/token%@",
                best.effect, coherent.count, points.filter { $0.coefficient != 0 }.count, maxKL,
                over > 0 ? "; \(over) point(s) moved it more but broke coherence" : "")
        )
    }

    /// Per item pair of `sequences` (trait, other, trait, other, …) steered with `steering`, the log-ratio m(trait) − m(other) (mean log-probability per answer token).
    static func itemLogRatios(
        _ sequences: [TeacherForcedSequence], transformer: Transformer, steering: [SteeringSpec],
        pool: PrefixCachePool, interventions: [LayerHook] = []
    ) throws -> [Double] {
        let lp = try TeacherForcing.logProbabilities(sequences, transformer: transformer, steering: steering, pool: pool, interventions: interventions)
        return stride(from: 0, to: lp.count - 1, by: 2).map { Pipeline.logRatio(lp[$0], lp[$0 + 1]) }
    }

    /// Mean P(trait answer) of items given their log-ratios (0.5 with none).
    static func mean(traitProbabilities logRatios: [Double]) -> Double {
        guard !logRatios.isEmpty else { return 0.5 }
        return logRatios.reduce(0.0) { $0 + Pipeline.traitProbability(logRatio: $1) } / Double(logRatios.count)
    }

    /// Per-token mean of log p_u − log p_s over `neutral` (answers the unsteered model wrote), given
    /// the unsteered log-probabilities `unsteered`.
    public static func coherenceCost(
        _ neutral: [TeacherForcedSequence], unsteered: [[Double]], transformer: Transformer, steering: [SteeringSpec],
        pool: PrefixCachePool, interventions: [LayerHook] = []
    ) throws -> Double {
        guard steering.contains(where: { $0.coefficient != 0 }) else { return 0 }
        let steered = try TeacherForcing.logProbabilities(neutral, transformer: transformer, steering: steering, pool: pool, interventions: interventions)
        var total = 0.0, count = 0
        for (u, s) in zip(unsteered, steered) {
            for (a, b) in zip(u, s) { total += a - b; count += 1 }
        }
        return count > 0 ? total / Double(count) : 0
    }
}

extension SteeringSearch {
    /// What every source's search of one trait shares: the measurement items as teacher-forced
    /// sequences and their unsteered log-ratios, the norms, the unsteered model's own answers to the
    /// neutral prompts and their log-probabilities, and the prefix caches of all of them. Made
    /// once per trait (`SearchStage` passes it to every source), it changes no result: each
    /// source would compute the same values.
    public final class Baseline {
        let measurement: [BehaviorItem]
        let sequences: [TeacherForcedSequence]
        let norms: [Double]
        let neutral: [TeacherForcedSequence]
        let neutralLogProbabilities: [[Double]]
        let ratios: [Double]
        let pool: PrefixCachePool

        public init(pack: TraitPack, model: LanguageModel, grid: Grid, norms given: [Double]? = nil, interventions: [LayerHook] = []) throws {
            let items = pack.behaviorItems ?? []
            measurement = WrittenContrast.split(count: items.count).measurement.map { items[$0] }
            guard !measurement.isEmpty else {
                throw PackError.invalid(source: pack.name, problems: ["behavior_items: the search needs at least 2 two-choice items (one to measure)"])
            }
            var sequences: [TeacherForcedSequence] = []
            for item in measurement {
                guard let (t, o) = item.answers else { continue }
                sequences.append(try WrittenContrast.sequence(question: item.question, answer: t, model: model))
                sequences.append(try WrittenContrast.sequence(question: item.question, answer: o, model: model))
            }
            self.sequences = sequences
            var norms: [Double] = given ?? []
            if grid.unit == .norm, given == nil {
                norms = try ResidualNorms.measure(prompts: pack.questions.extraction.map { try model.chatPrompt(user: $0) }, transformer: model.transformer)
            }
            self.norms = norms
            // The unsteered model's own greedy answers to the neutral prompts.
            let generator = model.makeGenerator(maxBatchSize: neutralPrompts.count)
            let requests = try neutralPrompts.map {
                GenerationRequest(promptTokens: try model.chatPrompt(user: $0), maxNewTokens: grid.neutralTokens, stopTokens: model.stopTokens)
            }
            neutral = try zip(requests, model.transformer.withHooks(interventions) { try generator.generate(requests) }).compactMap {
                request, result -> TeacherForcedSequence? in
                guard !result.responseTokens.isEmpty else { return nil }
                return TeacherForcedSequence(promptTokens: request.promptTokens, answerTokens: result.responseTokens)
            }
            pool = PrefixCachePool()
            neutralLogProbabilities = try TeacherForcing.logProbabilities(
                neutral, transformer: model.transformer, steering: [], pool: pool, interventions: interventions)
            ratios = try itemLogRatios(sequences, transformer: model.transformer, steering: [], pool: pool, interventions: interventions)
        }
    }

    /// What to search.
    public struct Grid: Sendable {
        public var layers: [Int]
        /// Layer sets steered together (see the file header), searched after `layers`.
        public var layerSets: [[Int]]
        public var coefficients: [Double]
        public var unit: CoefficientUnit
        public var positions: SteeringPositions
        public var maxKL: Double
        /// Tokens of each neutral answer the coherence proxy is measured on.
        public var neutralTokens: Int
        public init(
            layers: [Int], layerSets: [[Int]] = [], coefficients: [Double], unit: CoefficientUnit = .norm,
            positions: SteeringPositions = .response, maxKL: Double = SteeringSearch.defaultMaxKL, neutralTokens: Int = 32
        ) {
            self.layers = layers; self.layerSets = layerSets; self.coefficients = coefficients; self.unit = unit; self.positions = positions
            self.maxKL = maxKL; self.neutralTokens = neutralTokens
        }
    }

    /// Searches `grid` for one trait: `vectors` `[layers][hidden]`, the behavioural measure on the
    /// pack's measurement half (odd positions, `WrittenContrast.split`), the coherence proxy on the
    /// neutral prompts, norms for `.norm` units from the pack's extraction questions.
    /// `norms`: mean residual norm per layer for `.norm` units (nil: measured here on all the pack's extraction questions).
    /// `interventions` (projection hooks: `--ablate`, `--cap`) hold at every point, the unsteered
    /// baseline and the neutral answers included, after the steering hook at its block.
    /// `baseline`: the trait's unsteered measurements, made by the caller for several sources with
    /// the same pack, model, grid, norms and interventions (nil: made here).
    public static func run(
        pack: TraitPack, source: String, vectors: [[Float]], model: LanguageModel, grid: Grid, norms given: [Double]? = nil,
        interventions: [LayerHook] = [], baseline prepared: Baseline? = nil, progress: (String) -> Void = { _ in }
    ) throws -> SearchResult {
        let config = model.config
        for l in grid.layers + grid.layerSets.joined() where !(0..<config.layerCount).contains(l) || l >= vectors.count {
            throw SteeringError.layerOutOfRange(layer: l, layerCount: min(config.layerCount, vectors.count))
        }
        let unsteered = try prepared ?? Baseline(pack: pack, model: model, grid: grid, norms: given, interventions: interventions)
        let sequences = unsteered.sequences, norms = unsteered.norms, neutral = unsteered.neutral, pool = unsteered.pool
        let unsteeredNeutral = unsteered.neutralLogProbabilities, baselineRatios = unsteered.ratios, measurement = unsteered.measurement
        let baseline = mean(traitProbabilities: baselineRatios)
        progress(String(format: "%@: unsteered P(trait answer) %.3f on %d measurement items", pack.name, baseline, measurement.count))
        var points: [SearchPoint] = []
        var ratiosByLayer: [String: [(coefficient: Double, ratios: [Double])]] = [:]
        for set in grid.layers.map({ [$0] }) + grid.layerSets where !set.isEmpty {
            for c in grid.coefficients {
                let raws = set.map { l in
                    grid.unit.rawCoefficient(c, meanNorm: l < norms.count ? norms[l] : 0, vectorNorm: ResidualNorms.norm(vectors[l]))
                }
                let specs =
                    c == 0
                    ? [] : zip(set, raws).map { SteeringSpec(vector: vectors[$0], layer: $0, coefficient: Float($1), positions: grid.positions) }
                let ratios =
                    c == 0
                    ? baselineRatios
                    : try itemLogRatios(sequences, transformer: model.transformer, steering: specs, pool: pool, interventions: interventions)
                let p = mean(traitProbabilities: ratios)
                let kl = try coherenceCost(
                    neutral, unsteered: unsteeredNeutral, transformer: model.transformer, steering: specs, pool: pool,
                    interventions: interventions)
                var point = SearchPoint(layer: set[0], coefficient: c, rawCoefficient: raws[0], traitProbability: p, effect: p - baseline, coherenceCost: kl)
                if set.count > 1 { point.layers = set }
                ratiosByLayer[point.layerLabel, default: []].append((c, ratios))
                progress(
                    String(
                        format: "  layer %@ c=%g (raw %@): P(trait) %.3f (%+.3f), KL %.3f", point.layerLabel, c,
                        raws.map { String(format: "%.2f", $0) }.joined(separator: "+"), p, p - baseline, kl))
                points.append(point)
            }
        }
        let (chosen, reason) = choose(points, maxKL: grid.maxKL)
        var result = SearchResult(
            trait: pack.name, source: source, coefficientUnit: grid.unit.rawValue, maxKL: grid.maxKL,
            baselineTraitProbability: baseline, measurementItems: measurement.count, points: points, chosen: chosen, reason: reason)
        result.positions = grid.positions
        if let chosen, let curve = ratiosByLayer[chosen.layerLabel] {
            let sorted = curve.sorted { $0.coefficient < $1.coefficient }
            result.antiSteerableFraction = Steerability.antiSteerableFraction(coefficients: sorted.map(\.coefficient), logRatios: sorted.map(\.ratios))
        }
        return result
    }

    /// A text heatmap: rows = layers, columns = coefficients, cells = effect (KL), `*` = over the floor, `>` = chosen.
    public static func table(_ r: SearchResult) -> String {
        var layers: [String] = []
        for p in r.points where !layers.contains(p.layerLabel) { layers.append(p.layerLabel) }
        let coefficients = Array(Set(r.points.map(\.coefficient))).sorted()
        func cell(_ p: SearchPoint?) -> String {
            guard let p else { return "-" }
            let mark = p == r.chosen ? ">" : (p.coherenceCost > r.maxKL ? "*" : " ")
            return String(format: "%@%+.3f (%.2f)", mark, p.effect, p.coherenceCost)
        }
        var rows = [["layer"] + coefficients.map { "c=\($0)" }]
        for l in layers { rows.append([l] + coefficients.map { c in cell(r.points.first { $0.layerLabel == l && $0.coefficient == c }) }) }
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        var out = rows.map { row in row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") }
        out.append(
            "cells: change of P(trait answer) on \(r.measurementItems) measurement items (KL per token from the unsteered model); "
                + "* = over the coherence floor \(r.maxKL), > = chosen; coefficients in \(r.coefficientUnit) units")
        if let c = r.chosen {
            out.append(
                String(
                    format: "%@: chosen layer %@, c = %g %@ (raw %.2f): P(trait answer) %.3f → %.3f, KL %.3f. %@", r.trait, c.layerLabel, c.coefficient,
                    r.coefficientUnit, c.rawCoefficient, r.baselineTraitProbability, c.traitProbability, c.coherenceCost, r.reason))
            if let anti = r.antiSteerableFraction {
                out.append(
                    String(
                        format: "%@: anti-steerable at layer %@: %.2f of %d measurement items (log-ratio falling as c rises)",
                        r.trait, c.layerLabel, anti, r.measurementItems))
            }
        } else {
            out.append("\(r.trait): no point chosen: \(r.reason)")
        }
        return out.joined(separator: "\n")
    }
}
