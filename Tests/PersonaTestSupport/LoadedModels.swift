// Models loaded once per test process (loading dequantizes every weight).
import Foundation
import PersonaModel

public enum LoadedModels {
    nonisolated(unsafe) static var cache: [String: Transformer] = [:]
    static let lock = NSLock()

    /// The default model `name` (e.g. "smollm2-135m"), loaded on first use.
    public static func transformer(_ name: String) throws -> Transformer {
        lock.lock(); defer { lock.unlock() }
        if let t = cache[name] { return t }
        let t = try Transformer(source: ModelSource.open(path: TestPaths.model(name)))
        // The golden tests hold the exact path (float32) to the reference's tolerances, whatever
        // PERSONA_ARITHMETIC says; fidelity tests of the fast path switch it for their own scope.
        t.arithmetic = .exact
        cache[name] = t
        return t
    }

    /// A fresh model `name` (a default model name or a path) on the exact arithmetic, for tests that
    /// hold one computation to another, or to the reference, at float32 rounding: a whole prefill
    /// against decode steps or a prefix-cache extension, served against in-process numbers, the
    /// reference's greedy text. The fast path's int8 rounding turns the last-bit differences between
    /// such paths into whole rounding steps (README, "Exactness").
    public static func exactLanguageModel(_ name: String) throws -> LanguageModel {
        let model = try LanguageModel(TestPaths.model(name))
        model.transformer.arithmetic = .exact
        return model
    }
}
