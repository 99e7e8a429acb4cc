// Norm-calibrated coefficients in the pipeline (see Steering/CoefficientUnits.swift for the unit):
// the mean residual norm per layer over a pack's extraction questions is measured once per
// (model, pack, question count), kept in the run store, and converts every coefficient the run
// steers with when `--coeff-unit norm` is chosen. Stored results keep the coefficient in the unit
// the user gave; the report shows the raw one beside it.
import Foundation
import PersonaModel

/// The mean residual norm per layer of one pack's extraction prompts.
public struct ResidualNormRecord: Codable, Equatable, Sendable {
    public var key: String
    public var trait: String
    /// mean ‖h_L‖ per layer, positions ≥ 1 of each prompt.
    public var meanNorms: [Double]
    public var promptCount: Int
}

extension Pipeline {
    /// The unit the run's coefficients are given in.
    public var coefficientUnit: CoefficientUnit { settings.coefficientUnit ?? .raw }

    /// Mean residual norm per layer over the pack's extraction questions (computed once, stored).
    public func residualNorms(_ pack: LoadedPack) throws -> ResidualNormRecord {
        let count = settings.questions ?? pack.pack.questions.extraction.count
        let questions = Array(pack.pack.questions.extraction.prefix(count))
        let key = CacheKey.make(["residual-norms-v1", modelKey, pack.contentHash, "\(questions.count)", "positions>=1"])
        if let stored = try store.info("residual-norms." + key, as: ResidualNormRecord.self) {
            try store.setInfo(Self.latestResidualNormsKey(trait: pack.name), json: stored)
            return stored
        }
        let prompts = try questions.map { try model.chatPrompt(user: $0) }
        let norms = try ResidualNorms.measure(prompts: prompts, transformer: model.transformer, batchSize: settings.batchSize)
        let record = ResidualNormRecord(key: key, trait: pack.name, meanNorms: norms, promptCount: prompts.count)
        try store.setInfo("residual-norms." + key, json: record)
        // The report reads the trait's latest norms without recomputing the key.
        try store.setInfo(Self.latestResidualNormsKey(trait: pack.name), json: record)
        return record
    }

    static func latestResidualNormsKey(trait: String) -> String { "residual-norms.trait.\(trait)" }

    /// The raw coefficient of `coefficient` (in the run's unit) for `vector` at `layer`.
    func rawCoefficient(_ coefficient: Double, layer: Int, vector: VectorRecord, pack: LoadedPack) throws -> Double {
        guard coefficientUnit == .norm, coefficient != 0 else { return coefficient }
        let norms = try residualNorms(pack).meanNorms
        guard layer < norms.count, layer < vector.rows.count else { throw PipelineError.layerOutOfRange(layer: layer, layerCount: norms.count) }
        return CoefficientUnit.norm.rawCoefficient(coefficient, meanNorm: norms[layer], vectorNorm: ResidualNorms.norm(vector.rows[layer]))
    }

    /// Extra cache-key parts for a coefficient: none in raw units (so existing runs keep their keys).
    var coefficientUnitKey: [String] { coefficientUnit == .raw ? [] : ["unit", coefficientUnit.rawValue] }
}
