// `persona run` as a library call (every stage for every trait, in order) and the report data
// built from a run store alone (no model or packs needed: the store remembers each trait's latest
// keys in `TraitState`).
import Foundation
import PersonaTensor

/// One trait's lines of the end-of-run summary.
public struct TraitSummary: Equatable, Sendable {
    /// The judged and behavioural results at one coefficient of the steering layer.
    public struct Point: Equatable, Sendable {
        public var coefficient: Double
        public var meanTrait: Double?
        public var meanCoherence: Double?
        /// Mean P(trait answer) of the behavioural measure.
        public var traitProbability: Double?
        public init(coefficient: Double, meanTrait: Double? = nil, meanCoherence: Double? = nil, traitProbability: Double? = nil) {
            self.coefficient = coefficient; self.meanTrait = meanTrait; self.meanCoherence = meanCoherence; self.traitProbability = traitProbability
        }
    }

    public var trait: String
    public var pairsKept: Int
    public var pairsTotal: Int
    /// ‖v‖ at the steering layer (nil when no vector was made).
    public var vectorNorm: Double?
    public var judgeQuality: JudgeQuality?
    /// Per coefficient, in the run's order.
    public var points: [Point]
    /// Why the trait stopped early, if it did.
    public var failure: String?
    /// Mean residual norm at the steering layer on the extraction questions (converts coefficient units).
    public var meanResidualNorm: Double?
    /// Steerability diagnostics of the vector at the steering layer.
    public var diagnostics: SteerabilityDiagnostics?
    /// The steering search's outcome (when the run searched) and the judged answers at its choice.
    public var search: Pipeline.SearchOutcome?
    public var chosen: SteeringResultRecord?
    /// Mean judged trait score of the unsteered answers (c = 0), beside `chosen`.
    public var baselineMeanTrait: Double?

    public init(
        trait: String, pairsKept: Int, pairsTotal: Int, vectorNorm: Double? = nil, judgeQuality: JudgeQuality? = nil,
        points: [Point] = [], failure: String? = nil
    ) {
        self.trait = trait; self.pairsKept = pairsKept; self.pairsTotal = pairsTotal; self.vectorNorm = vectorNorm
        self.judgeQuality = judgeQuality; self.points = points; self.failure = failure
    }

    /// Mean coherence at or above this makes a coefficient "coherent".
    public static let coherentMean = 50.0

    /// The largest coefficient whose mean coherence is ≥ 50 (every coefficient when none was judged).
    public var largestCoherentCoefficient: Double? {
        let judged = points.filter { $0.meanCoherence != nil }
        if judged.isEmpty { return points.map(\.coefficient).max() }
        return judged.filter { ($0.meanCoherence ?? 0) >= Self.coherentMean }.map(\.coefficient).max()
    }

    /// Spearman's ρ between coefficient and P(trait answer), from the most negative coefficient to
    /// the largest coherent one (nil with fewer than 3 such points).
    public var behaviorSpearman: Double? {
        guard let top = largestCoherentCoefficient else { return nil }
        let xs = points.filter { $0.coefficient <= top && $0.traitProbability != nil }.map { ($0.coefficient, $0.traitProbability!) }
        return Pipeline.spearman(xs)
    }

    /// The coherent coefficient above 0 with the highest mean trait score, and its rise over c = 0.
    public var judgedRise: (coefficient: Double, rise: Double)? {
        guard let base = points.first(where: { $0.coefficient == 0 })?.meanTrait else { return nil }
        let candidates = points.filter { $0.coefficient > 0 && ($0.meanCoherence ?? 0) >= Self.coherentMean && $0.meanTrait != nil }
        guard let best = candidates.max(by: { $0.meanTrait! < $1.meanTrait! }) else { return nil }
        return (best.coefficient, best.meanTrait! - base)
    }
}

extension TraitSummary {
    static func coefficientLabel(_ c: Double) -> String { "c=" + ((c == c.rounded()) ? String(Int(c)) : String(c)) }

    /// The end-of-run table: pairs kept, judge AUC, ‖v‖ at the steering layer, then per coefficient
    /// the mean judged trait score, mean coherence and the behavioural P(trait answer); then one
    /// line per trait saying what the curves show.
    public static func table(_ summaries: [TraitSummary], layer: Int, coefficients: [Double]) -> String {
        let header = ["trait", "pairs kept", "judge AUC", "‖v‖ @\(layer)", "measure"] + coefficients.map(coefficientLabel)
        var rows: [[String]] = []
        func cell(_ x: Double?, _ format: String) -> String { x.map { String(format: format, $0) } ?? "-" }
        for s in summaries {
            let lead = [s.trait, "\(s.pairsKept)/\(s.pairsTotal)", cell(s.judgeQuality?.auc, "%.2f"), cell(s.vectorNorm, "%.2f")]
            if s.failure != nil {
                rows.append(lead + ["no pairs kept"])
                continue
            }
            func values(_ f: (Point) -> Double?, _ format: String) -> [String] {
                coefficients.map { c in cell(s.points.first { $0.coefficient == c }.flatMap(f), format) }
            }
            let blank = Array(repeating: "", count: lead.count)
            rows.append(lead + ["trait score"] + values({ $0.meanTrait }, "%.1f"))
            rows.append(blank + ["coherence"] + values({ $0.meanCoherence }, "%.1f"))
            if s.points.contains(where: { $0.traitProbability != nil }) {
                rows.append(blank + ["P(trait answer)"] + values({ $0.traitProbability }, "%.3f"))
            }
        }
        let widths = header.indices.map { i in ([header[i]] + rows.map { i < $0.count ? $0[i] : "" }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        var out = [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line)
        out.append(
            "(trait score, coherence: mean judged scores of the steered answers to the evaluation questions; P(trait answer): "
                + "judge-free behavioural measure, mean probability of the trait-showing answer of the pack's two-choice items; "
                + "judge AUC: how well the judge separates trait-prompted from helpful-prompted extraction answers, 0.5 = chance)")
        for s in summaries {
            var parts: [String] = []
            if let failure = s.failure {
                parts.append(failure.hasPrefix(s.trait + ": ") ? String(failure.dropFirst(s.trait.count + 2)) : failure)
            }
            // Both units: raw = norm × mean‖h‖ / ‖v‖ at the steering layer.
            if let h = s.meanResidualNorm, let v = s.vectorNorm, h > 0, v > 0 {
                parts.append(String(format: "mean ‖h‖ @%d = %.2f, so 1 norm unit = raw %.2f (raw 1 = %.4f norm units)", layer, h, h / v, v / h))
            }
            if let top = s.largestCoherentCoefficient, let rho = s.behaviorSpearman, let lo = s.points.map(\.coefficient).min() {
                parts.append(String(format: "behavioural Spearman ρ = %.2f from %@ to %@", rho, coefficientLabel(lo), coefficientLabel(top)))
            }
            if let d = s.diagnostics {
                parts.append("diagnostics @\(d.layer): " + d.summaryText)
            }
            if let (c, rise) = s.judgedRise {
                parts.append(String(format: "judged trait %+.1f from c=0 to %@ (best coherent coefficient)", rise, coefficientLabel(c)))
            } else if s.points.contains(where: { $0.meanTrait != nil }) {
                parts.append("no coherent positive coefficient to compare with c=0")
            }
            if let search = s.search {
                if let c = search.choice {
                    let chosenResult = search.results.first { $0.source == c.source }
                    let curve =
                        chosenResult.map { r in
                            r.points.filter { $0.layer == c.layer && $0.coefficient <= c.coefficient }.map { ($0.coefficient, $0.traitProbability) }
                        } ?? []
                    var text = String(
                        format: "search chose %@ at layer %d, c = %g %@ (raw %.2f): P(trait answer) %.3f → %.3f, KL %.2f",
                        c.source, c.layer, c.coefficient, c.coefficientUnit, c.rawCoefficient, c.baselineTraitProbability,
                        c.traitProbability, c.coherenceCost)
                    if let rho = Pipeline.spearman(curve) { text += String(format: ", Spearman ρ = %.2f up to it", rho) }
                    if let r = chosenResult, let anti = r.antiSteerableFraction {
                        text += String(format: ", anti-steerable %.2f of %d measurement items", anti, r.measurementItems)
                    }
                    if let j = s.chosen, let t = j.meanTrait {
                        text += String(
                            format: "; judged there: trait %.1f (c=0: %@), coherence %@", t, s.baselineMeanTrait.map { String(format: "%.1f", $0) } ?? "-",
                            j.meanCoherence.map { String(format: "%.1f", $0) } ?? "-")
                    }
                    parts.append(text)
                } else if let reason = search.reason {
                    parts.append("search: " + reason)
                }
            }
            if let q = s.judgeQuality, let auc = q.auc, auc < JudgeQuality.warningAUC {
                parts.append(String(format: "judge AUC %.2f < %.2f: judged scores mean little", auc, JudgeQuality.warningAUC))
            }
            if !parts.isEmpty { out.append("\(s.trait): " + parts.joined(separator: "; ")) }
        }
        return out.joined(separator: "\n")
    }
}

extension Pipeline {
    /// Runs every stage for every pack (generate, judge, filter, extract, behave, steer, monitor), then
    /// geometry across the traits that produced vectors. A trait that keeps no pairs is reported
    /// and skipped; the others go on.
    public func run(_ packs: [LoadedPack]) throws -> [TraitSummary] {
        try recordRun(packs: packs)
        var summaries: [TraitSummary] = []
        var withVectors: [LoadedPack] = []
        for pack in packs {
            try generate(pack)
        }
        for pack in packs {
            try judgeAnswers(pack)
        }
        for pack in packs {
            var summary = TraitSummary(trait: pack.name, pairsKept: 0, pairsTotal: 0)
            let outcome = try filter(pack)
            summary.pairsKept = outcome.kept
            summary.pairsTotal = outcome.decisions.count
            summary.judgeQuality = outcome.judgeQuality
            do {
                let vectors = try extract(pack, filtered: outcome)
                let layer = settings.steeringLayer(layerCount: layerCount)
                if let v = vectors[settings.method] { summary.vectorNorm = norm(v.rows[layer]) }
                // Measured in every run (one prefill per extraction question), so the report can show both units.
                let norms = try residualNorms(pack).meanNorms
                if layer < norms.count { summary.meanResidualNorm = norms[layer] }
                withVectors.append(pack)
                let behavior = try behave(pack)
                summary.diagnostics = try steerabilityDiagnostics(pack, filtered: outcome, behavior: behavior)
                if !(settings.searchSources ?? []).isEmpty { summary.search = try search(pack) }
                let steered = try steer(pack)
                summary.chosen = steered.chosen
                summary.baselineMeanTrait = steered.points.first { $0.coefficient == 0 }?.meanTrait
                summary.points = steered.points.map { p in
                    TraitSummary.Point(
                        coefficient: p.coefficient, meanTrait: p.meanTrait, meanCoherence: p.meanCoherence,
                        traitProbability: behavior.first { $0.coefficient == p.coefficient }?.meanTraitProbability)
                }
                try monitor(pack)
            } catch let error as PipelineError {
                if case .noPairsKept = error {
                    summary.failure = error.description
                    progress.warn(error.description)
                    // A written-contrast vector needs no kept pairs: its search still tells what steering could do.
                    // When it chooses a point, that point and c = 0 are still judged.
                    if (settings.searchSources ?? []).contains("written") {
                        do {
                            let outcome = try search(pack)
                            summary.search = outcome
                            if outcome.choice != nil {
                                let steered = try steer(pack)
                                summary.chosen = steered.chosen
                                summary.baselineMeanTrait = steered.points.first { $0.coefficient == 0 }?.meanTrait
                            }
                        } catch { progress.warn("search \(pack.name): \(error)") }
                    }
                } else {
                    throw error
                }
            }
            summaries.append(summary)
        }
        if withVectors.count >= 1 { try geometry(withVectors) }
        return summaries
    }
}

func norm(_ v: [Float]) -> Double { v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

/// Builds report data from a run store.
public enum RunReport {
    /// Everything `persona report` shows, from the store of `runDirectory`.
    public static func build(runDirectory: String) throws -> ReportData {
        let store = try RunStore.open(runDirectory: runDirectory, readOnly: true)
        return try build(store: store)
    }

    public static func build(store: RunStore) throws -> ReportData {
        guard let info = try store.info("run", as: RunInfo.self) else { throw RunStoreError.notARunStore(path: store.path) }
        let s = info.settings
        let layer = s.steeringLayer(layerCount: info.layerCount)
        var settings: [String: String] = [
            "questions": s.questions.map(String.init) ?? "all", "samples": "\(s.samples)", "max tokens": "\(s.maxTokens)",
            "temperature": "\(s.temperature)", "top-p": "\(s.topP)", "seed": "\(s.seed)", "trait threshold": "\(s.traitThreshold)",
            "coherence threshold": "\(s.coherenceThreshold)", "method": s.method.rawValue,
            "coefficients": s.coefficients.map { Pipeline.signed($0) }.joined(separator: ", "), "layer": "\(layer)",
            "positions": s.positions.rawValue, "steer temperature": "\(s.steerTemperature)", "steer max tokens": "\(s.steeringMaxTokens)"
        ]
        settings["coefficient unit"] = (s.coefficientUnit ?? CoefficientUnit.raw).rawValue
        settings["arithmetic"] = s.runArithmetic.rawValue
        if !s.sweepLayers.isEmpty { settings["sweep layers"] = s.sweepLayers.map(String.init).joined(separator: ", ") }
        if let sources = s.searchSources, !sources.isEmpty { settings["search sources"] = sources.joined(separator: ", ") }
        if s.ablate == "refusal" {
            settings["ablated while steering"] = "the refusal direction at every block (vectors/\(Pipeline.refusalMethod).safetensors)"
        }
        var traits: [TraitReport] = []
        for name in info.traits {
            guard let st = try store.traitState(name) else { continue }
            var decisions: [PairDecision] = []
            if let fk = st.filterKey { decisions = try store.decisions(filterKey: fk) ?? [] }
            let vectorKey = st.vectorKeys[st.method ?? s.method.rawValue]
            let vector = try vectorKey.flatMap { try store.vector(key: $0) }
            let points = try st.steeringResultKeys.compactMap { try store.steeringResult(key: $0) }.map(point)
            let sweep = try st.sweepResultKeys.compactMap { try store.steeringResult(key: $0) }.map(point)
            var projections: [ProjectionGroup] = []
            if let vk = st.monitorVectorKey, let ml = st.monitorLayer {
                var byCondition: [ProjectionCondition: [Double]] = [:]
                for p in try store.projections(vectorKey: vk, layer: ml) where p.source == "response_mean" {
                    byCondition[p.condition, default: []].append(p.value)
                }
                projections = byCondition.keys.sorted().map { ProjectionGroup(condition: $0.label, values: byCondition[$0] ?? []) }
            }
            let behavior = try st.behaviorResultKeys.map { keys in
                try keys.compactMap { try store.behaviorResult(key: $0) }.map {
                    BehaviorPoint(
                        coefficient: $0.coefficient, meanTraitProbability: $0.meanTraitProbability,
                        itemCount: $0.itemProbabilities.count, meanLogRatio: $0.meanLogRatio)
                }
            }
            let exampleAnswers = try store.answers(keys: st.exampleAnswerKeys)
            let judge = info.judge
            var examples: [ExampleAnswer] = []
            let choice = st.searchChoice
            for key in st.exampleAnswerKeys {
                guard let a = exampleAnswers[key] else { continue }
                let byAnswer = try store.allScoresFor(answerKey: key, judge: judge)
                var label: String? = nil
                if let c = choice, a.vectorKey == c.vectorKey, a.steeringLayer == c.layer, a.coefficient == c.rawCoefficient {
                    label = String(
                        format: "search choice: %@ vector, layer %d, c = %g %@ (raw %.2f)", c.source, c.layer, c.coefficient,
                        c.coefficientUnit, c.rawCoefficient)
                }
                examples.append(
                    ExampleAnswer(
                        coefficient: a.coefficient ?? 0, question: a.question, answer: a.answer,
                        traitScore: byAnswer[.trait] ?? nil, coherence: byAnswer[.coherence] ?? nil, label: label))
            }
            let search = try st.searchResultKeys.map { keys in try keys.compactMap { try store.info("search." + $0, as: SearchResult.self) } }
            let chosen = try st.chosenResultKey.flatMap { try store.steeringResult(key: $0) }.map(point)
            let unit: String = (s.coefficientUnit ?? CoefficientUnit.raw).rawValue
            let residualNorms: [Double]? = try store.info(Pipeline.latestResidualNormsKey(trait: name), as: ResidualNormRecord.self)?.meanNorms
            let diagnostics: SteerabilityDiagnostics? = try store.info(Pipeline.diagnosticsKey(trait: name), as: SteerabilityDiagnostics.self)
            traits.append(
                TraitReport(
                    trait: name, pairsTotal: decisions.count, pairsKept: decisions.filter(\.kept).count,
                    dropReasons: decisions.compactMap(\.reason).reduce(into: [:]) { $0[$1, default: 0] += 1 },
                    vectorNorms: vector?.rows.map(norm) ?? [], steeringLayer: st.steeringLayer ?? layer,
                    steering: points, layerSweep: sweep, bestLayer: st.bestLayer, projections: projections,
                    promptLastCorrelation: st.promptLastCorrelation, examples: examples,
                    judgeQuality: st.judgeQuality, behavior: behavior,
                    coefficientUnit: unit, meanResidualNorms: residualNorms, diagnostics: diagnostics))
            traits[traits.count - 1].search = search
            traits[traits.count - 1].searchChoice = choice
            traits[traits.count - 1].chosen = chosen
            traits[traits.count - 1].promptingBaseline = st.promptingBaseline
        }
        let geometry = try store.geometry()
        return ReportData(
            runName: info.name, model: info.model, modelFingerprint: info.modelFingerprint, judge: info.judge,
            createdAt: info.createdAt, settings: settings, traits: traits, geometry: geometry)
    }

    static func point(_ r: SteeringResultRecord) -> SteeringPoint {
        SteeringPoint(
            layer: r.layer, coefficient: r.coefficient, meanTrait: r.meanTrait, meanCoherence: r.meanCoherence,
            scoredCount: r.scoredCount, answerCount: r.answerCount)
    }
}

extension RunStore {
    /// The latest trait and coherence score of an answer by one judge.
    func allScoresFor(answerKey: String, judge: String) throws -> [ScoreKind: Double?] {
        var out: [ScoreKind: Double?] = [:]
        for s in try scores(answerKey: answerKey) where s.judge == judge { out[s.kind] = s.score }
        return out
    }
}
