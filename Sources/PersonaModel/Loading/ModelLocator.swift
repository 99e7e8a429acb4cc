// Resolves what the user typed after `--model` / MODEL: a path to a GGUF file or a Hugging Face
// folder, or the name of a default model fetched by `make models` (models/NAME.gguf).
import Foundation

public enum ModelLocatorError: Error, CustomStringConvertible, Equatable {
    case notFound(argument: String, searched: [String])

    public var description: String {
        switch self {
        case let .notFound(argument, searched):
            let known = ModelLocator.defaultModels.map(\.name).joined(separator: ", ")
            return "model \"\(argument)\" not found: not a file or folder, and none of \(searched.joined(separator: ", ")) exists. "
                + "Default models (\(known)) are fetched by `make models` (qwen2.5-1.5b by `make models-large`)."
        }
    }
}

/// Finds model files.
public enum ModelLocator {
    /// A default model fetched by the set-up.
    public struct DefaultModel: Sendable {
        public let name: String
        public let sha256: String
    }

    public static let defaultModels: [DefaultModel] = [
        DefaultModel(name: "smollm2-135m", sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
        DefaultModel(name: "qwen2.5-0.5b", sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
        DefaultModel(name: "qwen2.5-1.5b", sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046")
    ]

    /// Directories searched for `NAME.gguf`: `$PERSONA_MODELS_DIR`, then `./models`.
    public static func searchDirectories(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var dirs: [String] = []
        if let d = environment["PERSONA_MODELS_DIR"], !d.isEmpty { dirs.append(d) }
        dirs.append(FileManager.default.currentDirectoryPath + "/models")
        return dirs
    }

    /// The path for `argument`: itself when it exists, else `DIR/argument.gguf` in a search directory.
    public static func resolve(_ argument: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if FileManager.default.fileExists(atPath: argument) { return argument }
        var searched: [String] = []
        for dir in searchDirectories(environment: environment) {
            let candidate = "\(dir)/\(argument).gguf"
            searched.append(candidate)
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        throw ModelLocatorError.notFound(argument: argument, searched: searched)
    }

    /// Resolves and opens a model.
    public static func open(_ argument: String) throws -> ModelSource {
        try ModelSource.open(path: resolve(argument))
    }
}
