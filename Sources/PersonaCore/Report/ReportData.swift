// Everything a run report shows, as plain values: the pipeline fills it from the run store, the
// report writer turns it into HTML (inline SVG), CSV and JSON. Keeping the two apart lets either
// change without the other.

/// One run's report.
public struct ReportData: Codable, Equatable, Sendable {
    public var runName: String
    /// Model display name and fingerprint.
    public var model: String
    public var modelFingerprint: String
    public var judge: String
    /// ISO 8601.
    public var createdAt: String
    /// Every parameter of the run, by name (questions, samples, max tokens, coefficients, layer, …).
    public var settings: [String: String]
    public var traits: [TraitReport]
    public var geometry: Geometry?

    public init(
        runName: String, model: String, modelFingerprint: String, judge: String, createdAt: String,
        settings: [String: String], traits: [TraitReport], geometry: Geometry?
    ) {
        self.runName = runName; self.model = model; self.modelFingerprint = modelFingerprint; self.judge = judge
        self.createdAt = createdAt; self.settings = settings; self.traits = traits; self.geometry = geometry
    }
}

/// One trait's results.
public struct TraitReport: Codable, Equatable, Sendable {
    public var trait: String
    public var pairsTotal: Int
    public var pairsKept: Int
    /// Why pairs were dropped, with counts ("positive trait < 50": 3, "filter no-refusals: …": 1).
    public var dropReasons: [String: Int]
    /// ‖v_L‖ for every layer L (block outputs, 0-based).
    public var vectorNorms: [Double]
    /// The layer used for steering and monitoring.
    public var steeringLayer: Int
    /// Mean trait score and coherence at each coefficient (at `steeringLayer`).
    public var steering: [SteeringPoint]
    /// The same for every swept layer, when a layer sweep ran.
    public var layerSweep: [SteeringPoint]
    /// The layer the sweep chose (largest trait change with coherence ≥ 50), if a sweep ran.
    public var bestLayer: Int?
    /// Projections (a·v)/‖v‖ of response activations per condition ("baseline", "positive prompt", "steered +2", …).
    public var projections: [ProjectionGroup]
    /// Pearson correlation between the last prompt token's projection and the trait score.
    public var promptLastCorrelation: Double?
    /// Example answers at low, zero and high coefficients.
    public var examples: [ExampleAnswer]
    /// How well the judge separates trait-prompted from helpful-prompted extraction answers.
    public var judgeQuality: JudgeQuality?
    /// The judge-free behavioural measure at each coefficient (at `steeringLayer`).
    public var behavior: [BehaviorPoint]?
    /// Unit of every coefficient above: "raw" or "norm" (Steering/CoefficientUnits.swift).
    public var coefficientUnit: String?
    /// Mean residual norm ‖h_L‖ per layer on the extraction questions (positions ≥ 1): converts between units.
    public var meanResidualNorms: [Double]?
    /// Steerability diagnostics of the vector at the steering layer (Pipeline/Steerability.swift).
    public var diagnostics: SteerabilityDiagnostics?
    /// The steering search per vector source (Steering/SteeringSearch.swift), when the run searched.
    public var search: [SearchResult]?
    /// The point the run steers with: the search's choice (`searchChoice.layer`, `.coefficient` in
    /// `.coefficientUnit`, `.rawCoefficient`, `.source`), and the judged answers there (`chosen`,
    /// its coefficient raw) beside the unsteered baseline (`steering` at c = 0).
    public var searchChoice: SearchChoice?
    public var chosen: SteeringPoint?
    /// Judged scores of the positive-system-prompted answers: steering against prompting.
    public var promptingBaseline: PromptingBaseline?

    public init(
        trait: String, pairsTotal: Int, pairsKept: Int, dropReasons: [String: Int], vectorNorms: [Double],
        steeringLayer: Int, steering: [SteeringPoint], layerSweep: [SteeringPoint] = [], bestLayer: Int? = nil,
        projections: [ProjectionGroup], promptLastCorrelation: Double?, examples: [ExampleAnswer],
        judgeQuality: JudgeQuality? = nil, behavior: [BehaviorPoint]? = nil,
        coefficientUnit: String? = nil, meanResidualNorms: [Double]? = nil, diagnostics: SteerabilityDiagnostics? = nil
    ) {
        self.coefficientUnit = coefficientUnit; self.meanResidualNorms = meanResidualNorms; self.diagnostics = diagnostics
        self.trait = trait; self.pairsTotal = pairsTotal; self.pairsKept = pairsKept; self.dropReasons = dropReasons
        self.vectorNorms = vectorNorms; self.steeringLayer = steeringLayer; self.steering = steering
        self.layerSweep = layerSweep; self.bestLayer = bestLayer; self.projections = projections
        self.promptLastCorrelation = promptLastCorrelation; self.examples = examples
        self.judgeQuality = judgeQuality; self.behavior = behavior
    }
}

/// The behavioural measure at one coefficient: mean probability of the trait-showing answer.
public struct BehaviorPoint: Codable, Equatable, Sendable {
    public var coefficient: Double
    public var meanTraitProbability: Double
    public var itemCount: Int
    /// Mean per-token log-likelihood difference, trait answer minus other (nats).
    public var meanLogRatio: Double
    public init(coefficient: Double, meanTraitProbability: Double, itemCount: Int, meanLogRatio: Double) {
        self.coefficient = coefficient; self.meanTraitProbability = meanTraitProbability; self.itemCount = itemCount; self.meanLogRatio = meanLogRatio
    }
}

/// Mean judged scores of the steered answers at one (layer, coefficient).
public struct SteeringPoint: Codable, Equatable, Sendable {
    public var layer: Int
    public var coefficient: Double
    /// nil when no answer got a score.
    public var meanTrait: Double?
    public var meanCoherence: Double?
    /// Answers that got a trait score.
    public var scoredCount: Int
    public var answerCount: Int

    public init(layer: Int, coefficient: Double, meanTrait: Double?, meanCoherence: Double?, scoredCount: Int, answerCount: Int) {
        self.layer = layer; self.coefficient = coefficient; self.meanTrait = meanTrait; self.meanCoherence = meanCoherence
        self.scoredCount = scoredCount; self.answerCount = answerCount
    }
}

/// Projection values of one condition.
public struct ProjectionGroup: Codable, Equatable, Sendable {
    public var condition: String
    public var values: [Double]
    public init(condition: String, values: [Double]) { self.condition = condition; self.values = values }
}

/// One steered answer shown in the report.
public struct ExampleAnswer: Codable, Equatable, Sendable {
    public var coefficient: Double
    public var question: String
    public var answer: String
    public var traitScore: Double?
    public var coherence: Double?
    /// What the coefficient is when it is not the run's sweep ("search choice: layer 9, c = 0.3 norm").
    public var label: String?
    public init(coefficient: Double, question: String, answer: String, traitScore: Double?, coherence: Double?, label: String? = nil) {
        self.coefficient = coefficient; self.question = question; self.answer = answer
        self.traitScore = traitScore; self.coherence = coherence; self.label = label
    }
}

/// Cosine similarity between the traits' vectors.
public struct Geometry: Codable, Equatable, Sendable {
    public var traits: [String]
    /// The layer of `cosine`.
    public var layer: Int
    /// [i][j]: cosine of trait i's and trait j's vectors at `layer`.
    public var cosine: [[Double]]
    /// [layer][i][j]: the same at every layer.
    public var perLayer: [[[Double]]]
    public init(traits: [String], layer: Int, cosine: [[Double]], perLayer: [[[Double]]]) {
        self.traits = traits; self.layer = layer; self.cosine = cosine; self.perLayer = perLayer
    }
}

extension TraitReport {
    /// `c` (in the run's unit, at `layer`) as (raw, norm-unit) coefficients; nil when the norms are unknown.
    public func bothUnits(_ c: Double, layer: Int? = nil) -> (raw: Double, norm: Double)? {
        let l = layer ?? steeringLayer
        guard let norms = meanResidualNorms, l < norms.count, l < vectorNorms.count, norms[l] > 0, vectorNorms[l] > 0 else { return nil }
        if coefficientUnit == CoefficientUnit.norm.rawValue {
            return (CoefficientUnit.norm.rawCoefficient(c, meanNorm: norms[l], vectorNorm: vectorNorms[l]), c)
        }
        return (c, CoefficientUnit.normCoefficient(raw: c, meanNorm: norms[l], vectorNorm: vectorNorms[l]))
    }
}
