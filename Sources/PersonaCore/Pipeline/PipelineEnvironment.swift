// Where the pipeline gets its trait packs and its judge. Two small functions so that the plugin
// host (pack libraries, autorater plugins) plugs in with one line each when it lands; until then
// packs come from bare pack folders / pack.json files, and judges are not available.
import Foundation

public enum PipelineEnvironmentError: Error, CustomStringConvertible, Equatable {
    case judgeNotAvailable(name: String)
    case packNotFound(name: String, searched: [String])

    public var description: String {
        switch self {
        case let .judgeNotAvailable(name):
            return "judge plugin '\(name)' is not available: no autorater plugins are loaded in this build (the plugin host provides `local-judge` and `openai`)"
        case let .packNotFound(name, searched):
            return "trait pack '\(name)' not found (looked for \(searched.joined(separator: ", "))); name a pack folder, a pack.json file, or a trait in TraitPacks/"
        }
    }
}

public enum PipelineEnvironment {
    /// Folders searched for a trait named without a path: `TraitPacks/` under the current
    /// directory, then the folders in `PERSONA_PACK_PATH` (colon-separated).
    public static var packSearchFolders: [String] {
        var folders = [FileManager.default.currentDirectoryPath + "/TraitPacks"]
        if let extra = ProcessInfo.processInfo.environment["PERSONA_PACK_PATH"] {
            folders += extra.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        return folders
    }

    /// Loads packs by name or path: a pack folder (holding pack.json), a pack.json file, or a trait
    /// name found in `packSearchFolders`.
    // INTEGRATION: the plugin host's pack loader (pack .so files, the reference repo's trait JSON) goes here.
    public static func loadPacks(names: [String]) throws -> [LoadedPack] {
        try names.map { name in
            var candidates: [String] = []
            if name.contains("/") || name.hasSuffix(".json") { candidates.append(name) }
            candidates += packSearchFolders.map { "\($0)/\(name)" }
            for path in candidates where FileManager.default.fileExists(atPath: path) {
                return try PackFolder.load(path: URL(fileURLWithPath: path).standardizedFileURL.path)
            }
            throw PipelineEnvironmentError.packNotFound(name: name, searched: candidates)
        }
    }

    /// The judge named `name` with its JSON configuration.
    // INTEGRATION: the plugin host's autorater loading (`local-judge`, `openai`) goes here.
    public static func loadJudge(name: String, config: String?, model: LanguageModel?) throws -> Autorater {
        throw PipelineEnvironmentError.judgeNotAvailable(name: name)
    }
}
