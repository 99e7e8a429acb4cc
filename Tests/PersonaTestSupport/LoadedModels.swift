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
}
