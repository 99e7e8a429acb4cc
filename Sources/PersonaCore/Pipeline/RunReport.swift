// `persona run` as a library call (every stage for every trait, in order) and the report data
// built from a run store alone (no model or packs needed: the store remembers each trait's latest
// keys in `TraitState`).
import Foundation

/// One trait's line of the end-of-run summary.
public struct TraitSummary: Equatable, Sendable {
    public var trait: String
    public var pairsKept: Int
    public var pairsTotal: Int
    /// ‖v‖ at the steering layer (nil when no vector was made).
    public var vectorNorm: Double?
    /// Mean trait score per coefficient at the steering layer.
    public var traitByCoefficient: [(coefficient: Double, meanTrait: Double?)]
    /// Why the trait stopped early, if it did.
    public var failure: String?

    public static func == (a: TraitSummary, b: TraitSummary) -> Bool {
        a.trait == b.trait && a.pairsKept == b.pairsKept && a.pairsTotal == b.pairsTotal && a.vectorNorm == b.vectorNorm
            && a.failure == b.failure && a.traitByCoefficient.map(\.coefficient) == b.traitByCoefficient.map(\.coefficient)
            && a.traitByCoefficient.map(\.meanTrait) == b.traitByCoefficient.map(\.meanTrait)
    }
}

extension TraitSummary {
    /// The end-of-run table: pairs kept, ‖v‖ at the steering layer, mean trait score at each coefficient.
    public static func table(_ summaries: [TraitSummary], layer: Int, coefficients: [Double]) -> String {
        var header = ["trait", "pairs kept", "‖v‖ @\(layer)"] + coefficients.map { "c=" + (($0 == $0.rounded()) ? String(Int($0)) : String($0)) }
        var rows: [[String]] = []
        for s in summaries {
            var row = [s.trait, "\(s.pairsKept)/\(s.pairsTotal)", s.vectorNorm.map { String(format: "%.2f", $0) } ?? "-"]
            for c in coefficients {
                let t = s.traitByCoefficient.first { $0.coefficient == c }?.meanTrait
                row.append(t.map { String(format: "%.1f", $0) } ?? "-")
            }
            rows.append(row)
        }
        if summaries.contains(where: { $0.failure != nil }) { header.append("note") }
        for (i, s) in summaries.enumerated() where s.failure != nil { rows[i].append("no pairs kept") }
        let widths = header.indices.map { i in ([header[i]] + rows.map { i < $0.count ? $0[i] : "" }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line)).joined(separator: "\n")
            + "\n(trait score: mean judged score of steered answers on the evaluation questions at each coefficient)"
    }
}

extension Pipeline {
    /// Runs every stage for every pack (generate, judge, filter, extract, steer, monitor), then
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
            var summary = TraitSummary(trait: pack.name, pairsKept: 0, pairsTotal: 0, vectorNorm: nil, traitByCoefficient: [], failure: nil)
            let outcome = try filter(pack)
            summary.pairsKept = outcome.kept
            summary.pairsTotal = outcome.decisions.count
            do {
                let vectors = try extract(pack, filtered: outcome)
                let layer = settings.steeringLayer(layerCount: layerCount)
                if let v = vectors[settings.method] { summary.vectorNorm = norm(v.rows[layer]) }
                withVectors.append(pack)
                let steered = try steer(pack)
                summary.traitByCoefficient = steered.points.map { ($0.coefficient, $0.meanTrait) }
                try monitor(pack)
            } catch let error as PipelineError {
                if case .noPairsKept = error {
                    summary.failure = error.description
                    progress.warn(error.description)
                } else { throw error }
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
        let store = try RunStore.open(runDirectory: runDirectory)
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
            "positions": s.positions.rawValue, "steer temperature": "\(s.steerTemperature)", "steer max tokens": "\(s.steeringMaxTokens)",
        ]
        if !s.sweepLayers.isEmpty { settings["sweep layers"] = s.sweepLayers.map(String.init).joined(separator: ", ") }
        var traits: [TraitReport] = []
        for name in info.traits {
            guard let st = try store.info("trait.\(name)", as: TraitState.self) else { continue }
            var decisions: [PairDecision] = []
            if let fk = st.filterKey { decisions = try store.decisions(filterKey: fk) ?? [] }
            let vectorKey = st.vectorKeys[st.method ?? s.method.rawValue]
            let vector = try vectorKey.flatMap { try store.vector(key: $0) }
            let points = try st.steeringResultKeys.compactMap { try store.steeringResult(key: $0) }.map(point)
            let sweep = try st.sweepResultKeys.compactMap { try store.steeringResult(key: $0) }.map(point)
            var projections: [ProjectionGroup] = []
            if let vk = st.monitorVectorKey, let ml = st.monitorLayer {
                var byCondition: [String: [Double]] = [:]
                var order: [String] = []
                for p in try store.projections(vectorKey: vk, layer: ml) where p.source == "response_mean" {
                    if byCondition[p.condition] == nil { order.append(p.condition) }
                    byCondition[p.condition, default: []].append(p.value)
                }
                let rank = { (c: String) -> Double in
                    switch c {
                    case "baseline": return -1e9
                    case "negative prompt": return -1e8
                    case "positive prompt": return -1e7
                    default: return Double(c.replacingOccurrences(of: "steered ", with: "")) ?? 0
                    }
                }
                projections = order.sorted { rank($0) < rank($1) }.map { ProjectionGroup(condition: $0, values: byCondition[$0] ?? []) }
            }
            let exampleAnswers = try store.answers(keys: st.exampleAnswerKeys)
            let judge = info.judge
            var examples: [ExampleAnswer] = []
            for key in st.exampleAnswerKeys {
                guard let a = exampleAnswers[key] else { continue }
                let byAnswer = try store.allScoresFor(answerKey: key, judge: judge)
                examples.append(ExampleAnswer(coefficient: a.coefficient ?? 0, question: a.question, answer: a.answer,
                                              traitScore: byAnswer[.trait] ?? nil, coherence: byAnswer[.coherence] ?? nil))
            }
            traits.append(TraitReport(trait: name, pairsTotal: decisions.count, pairsKept: decisions.filter(\.kept).count,
                                      dropReasons: decisions.compactMap(\.reason).reduce(into: [:]) { $0[$1, default: 0] += 1 },
                                      vectorNorms: vector?.rows.map(norm) ?? [], steeringLayer: st.steeringLayer ?? layer,
                                      steering: points, layerSweep: sweep, bestLayer: st.bestLayer, projections: projections,
                                      promptLastCorrelation: st.promptLastCorrelation, examples: examples))
        }
        let geometry = try store.info("geometry", as: Geometry.self)
        return ReportData(runName: info.name, model: info.model, modelFingerprint: info.modelFingerprint, judge: info.judge,
                          createdAt: info.createdAt, settings: settings, traits: traits, geometry: geometry)
    }

    static func point(_ r: SteeringResultRecord) -> SteeringPoint {
        SteeringPoint(layer: r.layer, coefficient: r.coefficient, meanTrait: r.meanTrait, meanCoherence: r.meanCoherence,
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
