// Where the pipeline gets its trait packs and its judge: the plugin host (pack libraries with their
// custom filters, autorater plugins), and bare pack folders / pack.json files for quick iteration.
import Foundation
import PersonaModel

public enum PipelineEnvironmentError: Error, CustomStringConvertible, Equatable {
    case judgeNotAvailable(name: String)
    case packNotFound(name: String, searched: [String])

    public var description: String {
        switch self {
        case let .judgeNotAvailable(name):
            return
                "judge plugin '\(name)' was not found: `persona plugins` lists the autoraters this host can load (`local-judge`, `openai`); plugins are searched in the build folder, PERSONA_PLUGIN_PATH and ~/.local/share/persona/plugins"
        case let .packNotFound(name, searched):
            return
                "trait pack '\(name)' not found (looked for \(searched.joined(separator: ", "))); name a pack folder, a pack.json file, or a trait in TraitPacks/"
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

    /// Loads packs by name or path: a pack library (`.so`), a pack folder (holding pack.json), a
    /// pack.json file, or a trait name — a pack library the plugin host finds (build folder,
    /// `PERSONA_PLUGIN_PATH`, the per-user folder; these carry the pack's custom filters), else a
    /// folder of that name in `packSearchFolders`. Files are read and validated as
    /// `persona packs validate` does (`PluginHost.loadPackFile`). Falling back from a library to a
    /// folder drops the library's custom filters and changes every cache key of the trait, so
    /// `warn` is told.
    public static func loadPacks(names: [String], warn: (String) -> Void = { _ in }) throws -> [LoadedPack] {
        let host = PluginHost()
        host.discover()
        return try names.map { name in
            if name.hasSuffix(".so") {
                guard let record = host.load(library: name).first(where: { $0.kind == .traitPack }) else {
                    throw PipelineEnvironmentError.packNotFound(name: name, searched: [name])
                }
                return try host.loadPack(record)
            }
            var candidates: [String] = []
            var libraryProblem: String? = nil
            if name.contains("/") || name.hasSuffix(".json") {
                candidates.append(name)
            } else {
                do {
                    return try host.loadPack(try host.plugin(name, kind: .traitPack))
                } catch PluginHostError.notFound {
                    libraryProblem = "no pack library named \(name) was found (build it with `swift build`)"
                } catch {
                    libraryProblem = "its pack library did not load (\(error))"
                }
            }
            candidates += packSearchFolders.map { "\($0)/\(name)" }
            for path in candidates where FileManager.default.fileExists(atPath: path) {
                let pack = try PluginHost.loadPackFile(URL(fileURLWithPath: path).standardizedFileURL.path)
                if let libraryProblem {
                    warn(
                        "trait \(name): \(libraryProblem); using the pack folder \(pack.source) instead: without the library's custom filters, and with other cache keys (a run made with the library computes this trait again)"
                    )
                }
                return pack
            }
            throw PipelineEnvironmentError.packNotFound(name: name, searched: candidates)
        }
    }

    /// The judge named `name` (an autorater plugin: `local-judge`, `openai`, or `NAME@PATH`) with
    /// its JSON configuration; `model` is the model the host's model services offer plugins.
    public static func loadJudge(name: String, config: String?, model: LanguageModel?) throws -> Autorater {
        let host = PluginHost(hostModel: model)
        host.discover()
        do {
            return try host.makeAutorater(name: name, configurationJSON: config ?? "{}")
        } catch PluginHostError.notFound {
            throw PipelineEnvironmentError.judgeNotAvailable(name: name)
        }
    }
}
