// The steering search as a pipeline stage (`persona stage search`, part of `persona run --search
// SOURCES`): for each vector source the run names, the judge-free layer × coefficient search of
// Steering/SteeringSearch.swift, then one choice per trait — the source, layer and coefficient the
// steer stage judges beside its fixed sweep.
//
// Sources (each stored with its provenance in the vectors table, `method`):
// - `prompted`: the extract stage's vector (system-prompted contrast, filtered by the judge);
// - `written`: teacher-forced contrast of the pack's written two-choice answers, extraction half
//   only (`written_response_avg`; no judge, no sampling, so it exists even when no pair was kept).
// Both are measured on the same measurement half of the two-choice items, which no written vector
// is made from, and the same neutral prompts; the source whose chosen point raises P(trait answer)
// most is the one steered with, and the choice says so with each source's figures.
//
// Cache: a search result is stored in run_info under `search.KEY`, KEY covering the vector, the
// grid (layers, coefficients in norm units, positions, coherence floor, neutral answer length) and
// the residual norms' key; a resumed run reuses it.
import Foundation
import PersonaModel

/// The point a run steers with, chosen by the search (`report.json`: `traits[].searchChoice`).
public struct SearchChoice: Codable, Equatable, Sendable {
    /// `prompted` or `written`.
    public var source: String
    public var vectorKey: String
    public var layer: Int
    /// In `coefficientUnit` (the search's unit: norm).
    public var coefficient: Double
    public var coefficientUnit: String
    public var rawCoefficient: Double
    /// Mean P(trait answer) on the measurement items, unsteered and at the chosen point.
    public var baselineTraitProbability: Double
    public var traitProbability: Double
    /// KL per token from the unsteered model at the chosen point (nats).
    public var coherenceCost: Double
    /// Why this source and point: each source's best figures.
    public var reason: String
}

extension Pipeline {
    /// Default layers of the search: every third block from a sixth to five sixths of the depth.
    public static func defaultSearchLayers(layerCount n: Int) -> [Int] { Array(stride(from: max(n / 6, 0), through: (5 * n) / 6, by: 3)) }

    /// Default coefficients of the search, in norm units.
    public static let defaultSearchCoefficients: [Double] = [-0.2, 0, 0.1, 0.2, 0.3, 0.5]

    /// The search grid of this run.
    func searchGrid() -> SteeringSearch.Grid {
        SteeringSearch.Grid(
            layers: settings.searchLayers ?? Self.defaultSearchLayers(layerCount: layerCount),
            coefficients: settings.searchCoefficients ?? Self.defaultSearchCoefficients, unit: .norm,
            positions: settings.positions, maxKL: settings.searchMaxKL ?? SteeringSearch.defaultMaxKL)
    }

    /// The written-contrast vector of a pack (made once, stored; its file `vectors/TRAIT_written_response_avg.safetensors`).
    public func writtenVector(_ pack: LoadedPack) throws -> VectorRecord {
        let items = pack.pack.behaviorItems ?? []
        let extraction = try WrittenContrast.extractionIndices(of: pack.pack)
        let filterKey = "written:" + extraction.map(String.init).joined(separator: ",")
        let key = CacheKey.make(["vector-v1", modelKey, pack.pack.behaviorItemsHash, WrittenContrast.method, filterKey])
        let vector: VectorRecord
        if let stored = try store.vector(key: key) {
            vector = stored
        } else {
            progress.log("search \(pack.name): written-contrast vector from \(extraction.count) extraction items")
            let rows = try WrittenContrast.vectors(items: extraction.map { items[$0] }, model: model, batchSize: settings.batchSize)
            vector = VectorRecord(
                key: key, trait: pack.name, method: WrittenContrast.method, filterKey: filterKey, pairCount: extraction.count,
                rows: rows, model: fingerprint)
            try store.insert(vector: vector)
        }
        let path = URL(fileURLWithPath: runDirectory).appendingPathComponent("vectors/\(pack.name)_\(WrittenContrast.method).safetensors")
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        try WrittenContrast.file(rows: vector.rows, trait: pack.name, model: model, extractionIndices: extraction).write(to: path)
        return vector
    }

    /// The outcome of the search stage for one trait.
    public struct SearchOutcome: Equatable, Sendable {
        public var results: [SearchResult]
        public var choice: SearchChoice?
        /// Why no source was chosen (nil when one was).
        public var reason: String?
    }

    /// Stage: the steering search for every source in `settings.searchSources` (see the file header).
    /// A source that cannot be made (no kept pairs for `prompted`, too few two-choice items for
    /// `written`) is reported and skipped; the others go on.
    @discardableResult
    public func search(_ pack: LoadedPack) throws -> SearchOutcome {
        let sources = settings.searchSources ?? []
        guard !sources.isEmpty else { return SearchOutcome(results: [], choice: nil, reason: "no search sources (--search)") }
        let grid = searchGrid()
        for l in grid.layers where !(0..<layerCount).contains(l) { throw PipelineError.layerOutOfRange(layer: l, layerCount: layerCount) }
        let norms = try residualNorms(pack)
        let ablation = try steeringAblation()
        var results: [(SearchResult, VectorRecord, String)] = []
        var skipped: [String] = []
        var computed = 0, reused = 0
        // The unsteered measurements every source shares, made when the first source is computed.
        var baseline: SteeringSearch.Baseline?
        for source in sources {
            let vector: VectorRecord
            do {
                switch source {
                case "prompted": vector = try currentVector(pack)
                case "written": vector = try writtenVector(pack)
                default: throw PipelineError.badSetting(field: "search", value: source, expected: "prompted or written")
                }
            } catch let error as PipelineError {
                if case .badSetting = error { throw error }
                skipped.append("\(source): \(error.description)")
                progress.warn("search \(pack.name): no \(source) vector (\(error.description))")
                continue
            }
            let key = CacheKey.make(
                [
                    "search-v1", vector.key, grid.layers.map(String.init).joined(separator: ","),
                    grid.coefficients.map(CacheKey.number).joined(separator: ","), grid.unit.rawValue, grid.positions.rawValue,
                    CacheKey.number(grid.maxKL), "\(grid.neutralTokens)", norms.key, pack.pack.behaviorItemsHash
                ] + (ablation?.key ?? []))
            if let stored = try store.info("search." + key, as: SearchResult.self) {
                results.append((stored, vector, key)); reused += 1
                continue
            }
            try recordPendingRun()
            progress.log("search \(pack.name) (\(source)): \(grid.layers.count) layers × \(grid.coefficients.count) coefficients")
            let shared =
                try baseline
                ?? SteeringSearch.Baseline(pack: pack.pack, model: model, grid: grid, norms: norms.meanNorms, interventions: ablation?.hooks ?? [])
            baseline = shared
            var result = try SteeringSearch.run(
                pack: pack.pack, source: source, vectors: vector.rows, model: model, grid: grid,
                interventions: ablation?.hooks ?? [], baseline: shared, progress: { self.progress.log($0) })
            if let ablation { result.interventions = [ablation.description] }
            try store.setInfo("search." + key, json: result)
            results.append((result, vector, key)); computed += 1
        }
        let (choice, reason) = Self.chooseSource(results.map { ($0.0, $0.1.key) }, skipped: skipped)
        var st = try state(pack)
        st.searchResultKeys = results.map(\.2)
        st.searchChoice = choice
        try save(st, pack)
        try record(StageReport(stage: "search", trait: pack.name, computed: computed, reused: reused))
        progress.log("search \(pack.name): " + (choice.map { $0.reason } ?? reason))
        return SearchOutcome(results: results.map(\.0), choice: choice, reason: choice == nil ? reason : nil)
    }

    /// The source whose chosen point raises P(trait answer) most (ties: the first listed).
    static func chooseSource(_ results: [(SearchResult, String)], skipped: [String]) -> (SearchChoice?, String) {
        func line(_ r: SearchResult) -> String {
            guard let c = r.chosen else { return "\(r.source): none (\(r.reason))" }
            return String(
                format: "%@: layer %d, c = %g %@: P(trait answer) %.3f → %.3f (%+.3f), KL %.2f", r.source, c.layer, c.coefficient,
                r.coefficientUnit, r.baselineTraitProbability, c.traitProbability, c.effect, c.coherenceCost)
        }
        let summary = (results.map { line($0.0) } + skipped).joined(separator: "; ")
        var best: (SearchResult, SearchPoint, String)? = nil
        for (r, key) in results {
            guard let c = r.chosen else { continue }
            if best == nil || c.effect > best!.1.effect { best = (r, c, key) }
        }
        guard let (r, c, key) = best else { return (nil, "no source has a coherent point that raises P(trait answer): " + summary) }
        let choice = SearchChoice(
            source: r.source, vectorKey: key, layer: c.layer, coefficient: c.coefficient, coefficientUnit: r.coefficientUnit,
            rawCoefficient: c.rawCoefficient, baselineTraitProbability: r.baselineTraitProbability,
            traitProbability: c.traitProbability, coherenceCost: c.coherenceCost,
            reason: "steering with \(r.source) (largest coherent rise of P(trait answer)); " + summary)
        return (choice, choice.reason)
    }
}
