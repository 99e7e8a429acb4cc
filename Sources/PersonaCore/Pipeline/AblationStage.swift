// Refusal ablation in the pipeline (`persona run --ablate refusal`): the refusal direction
// (Steering/RefusalDirection.swift) is made once per run from the request set
// `Directions/refusal.json`, stored as a vector (`refusal_prompt_last`, file
// vectors/refusal_prompt_last.safetensors) and removed from the residual stream at every block
// while the run steers: the steered answers and their unsteered baseline, the search and the
// behavioural measure. Extraction, judging and the prompted answers stay unablated.
//
// Order at a block: the steering hook first, then the ablation (as in `persona generate` and
// `persona search`), so the stream leaving every block, the steered one included, has no
// component along the direction: the steering vector's own refusal part never reaches a block.
//
// Cache keys: every key of an ablated result carries `ablationKey` (the direction's vector key and
// its row), so a run with and one without ablation never share steered answers, search results or
// behaviour results; without ablation the keys are those of earlier runs.
//
// With `--engine openai` on `persona serve` of the same weights (an engine that steers), the steered
// answers and their baseline are generated there: each request carries the direction inline as a
// `projections` entry (`EngineProjection`), which the server applies after the request's steering at
// every block, as here. Any other engine leaves the steering stage local, ablation included.
import Crypto
import Foundation
import PersonaModel

/// A projection ablation held while a run steers.
struct SteeringAblation {
    /// Appended to the cache key of every result made with it.
    var key: [String]
    var hooks: [ProjectionHook]
    /// The same interventions as an engine request carries them (`--engine openai` on a `persona
    /// serve` of the same weights applies them per request, as `hooks` do here).
    var engineProjections: [EngineProjection]
    /// For logs, the report and search results.
    var description: String
}

extension Pipeline {
    static let refusalMethod = "refusal_prompt_last"

    /// The run's refusal direction: made from `set` once, stored, and written as a vector file.
    public func refusalDirection(set: RequestContrastSet? = nil) throws -> (vector: VectorRecord, row: Int) {
        let set = try set ?? RequestContrastSet.load(path: refusalRequestSetPath)
        let setHash = String(SHA256.hex(Data((set.harmful + ["\u{0}"] + set.harmless).joined(separator: "\n").utf8)).prefix(16))
        let key = CacheKey.make(
            ["vector-v1", modelKey, "refusal", setHash, Self.refusalMethod]
                + (refusalCandidateLayers.map { ["candidates", $0.map(String.init).joined(separator: ",")] } ?? []))
        let vector: VectorRecord
        if let stored = try store.vector(key: key) {
            vector = stored
        } else {
            try recordPendingRun()
            progress.log("ablate: refusal direction from \(set.harmful.count) harmful and \(set.harmless.count) harmless requests (\(refusalRequestSetPath))")
            let made = try RefusalDirection.make(
                set: set, model: model, candidates: refusalCandidateLayers,
                progress: { self.progress.log("ablate: " + $0) })
            vector = VectorRecord(
                key: key, trait: "refusal", method: Self.refusalMethod, filterKey: "row:\(made.chosenLayer)",
                pairCount: min(set.harmful.count, set.harmless.count), rows: made.vectors.rows, model: fingerprint)
            try store.insert(vector: vector)
            progress.log("ablate: refusal direction row \(made.chosenLayer), ablated at every block while steering")
        }
        guard vector.filterKey.hasPrefix("row:"), let row = Int(vector.filterKey.dropFirst(4)), vector.rows.indices.contains(row) else {
            throw RunStoreError.badValue(table: "vectors", column: "filter_key", key: key, value: vector.filterKey)
        }
        let path = URL(fileURLWithPath: runDirectory).appendingPathComponent("vectors/\(Self.refusalMethod).safetensors")
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        try TraitVectors(
            rows: vector.rows,
            metadata: model.vectorMetadata([
                "persona.trait": "refusal", "persona.method": Self.refusalMethod,
                RefusalDirection.directionLayerKey: String(row), "persona.layers": "block-output"
            ])
        )
        .write(to: path)
        return (vector, row)
    }

    /// The run's projection ablation while steering (nil without `--ablate`), made or read once per
    /// invocation.
    func steeringAblation() throws -> SteeringAblation? {
        // `settings.validate()` (run by `Pipeline.init`) admits only "refusal".
        guard settings.ablate != nil else { return nil }
        if let made = ablationCache { return made }
        let (vector, row) = try refusalDirection()
        let spec = ProjectionSpec(path: "the run's refusal direction", intervention: .ablate, directionLayer: row)
        let hooks = try spec.makeHooks(vectors: TraitVectors(rows: vector.rows, metadata: [:]), config: model.config)
        let made = SteeringAblation(
            key: ["ablate", vector.key, "row \(row)"], hooks: hooks,
            engineProjections: [
                EngineProjection(
                    direction: vector.rows[row], intervention: .ablate, layers: spec.layers,
                    positions: spec.positions)
            ],
            description: "refusal direction (row \(row)) ablated at every block")
        ablationCache = made
        return made
    }
}
