// The plugin host: finds plugin libraries, checks and registers them, and makes the engine's
// objects from them — `LoadedPack`s from trait-pack plugins (and bare pack folders), `Autorater`s
// from autorater plugins, `LayerHook`s from hook plugins.
//
// Search order (DESIGN.md, "Plugins"): the folder of the host executable (where SwiftPM puts the
// `lib*.so` products of the build), every directory in `PERSONA_PLUGIN_PATH` (colon-separated),
// then the per-user directory `$XDG_DATA_HOME/persona/plugins` (default
// `~/.local/share/persona/plugins`). Files named `lib*.so` / `*.so` / `*.dylib` are opened; the
// test fixtures of this repository (`libPersonaTestFixture*`) are skipped unless a test names their
// folder explicitly. A bad library is refused with its reason and the search goes on.
//
// Two plugins of one kind with one name are a conflict: asking for that name fails and lists the
// paths, unless the caller picks one with `NAME@PATH`.
import Foundation
import PersonaABI
import PersonaModel
import CPersonaLoader

public final class PluginHost: @unchecked Sendable {
    /// Directories searched, in order.
    public let searchDirectories: [String]
    /// Every plugin found (a library may hold several).
    public private(set) var plugins: [PluginRecord] = []
    /// Every library or plugin refused, with the reason.
    public private(set) var refused: [RefusedPlugin] = []
    /// Models for the host services (`hostModel` is what a plugin gets when it names none).
    public let models: ModelServices
    let services: HostServicesProvider
    private var scanned = Set<String>()
    private let skipFixtures: Bool

    /// The default search directories for this process and environment.
    public static func defaultSearchDirectories(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var dirs: [String] = []
        if let exe = executableDirectory() { dirs.append(exe) }
        if let path = environment["PERSONA_PLUGIN_PATH"] {
            dirs += path.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty {
            dirs.append(xdg + "/persona/plugins")
        } else if let home = environment["HOME"], !home.isEmpty {
            dirs.append(home + "/.local/share/persona/plugins")
        }
        var seen = Set<String>()
        return dirs.filter { seen.insert(URL(fileURLWithPath: $0).standardizedFileURL.path).inserted }
    }

    /// The folder of the running executable (the build folder when run from `.build/…`).
    public static func executableDirectory() -> String? {
        if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return (link as NSString).deletingLastPathComponent
        }
        return persona_loader_image_path(#dsohandle).map { (String(cString: $0) as NSString).deletingLastPathComponent }
    }

    /// A host searching `searchDirectories` (default: see above). Nothing is loaded until `discover`.
    public init(
        searchDirectories: [String]? = nil, hostModel: LanguageModel? = nil, skipTestFixtures: Bool = true,
        log: @escaping PluginLogSink = PluginHost.standardErrorLog
    ) {
        self.searchDirectories = searchDirectories ?? Self.defaultSearchDirectories()
        self.models = ModelServices(hostModel: hostModel)
        self.services = HostServicesProvider(models: models, log: log)
        self.skipFixtures = skipTestFixtures && searchDirectories == nil
    }

    /// Writes plugin log lines to standard error ("[plugin] warning: …").
    public static let standardErrorLog: PluginLogSink = { level, message in
        let names = ["debug", "info", "warning", "error"]
        let name = (0..<4).contains(Int(level)) ? names[Int(level)] : "log"
        FileHandle.standardError.write(Data("[plugin] \(name): \(message)\n".utf8))
    }

    /// Scans every search directory (once; later calls only pick up new files).
    public func discover() {
        for dir in searchDirectories {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for name in names.sorted() where Self.isLibraryName(name) {
                if skipFixtures && name.hasPrefix("libPersonaTestFixture") { continue }
                load(library: (dir as NSString).appendingPathComponent(name))
            }
        }
    }

    /// Opens one library (if not opened before) and registers its plugins.
    @discardableResult
    public func load(library path: String) -> [PluginRecord] {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard scanned.insert(resolved).inserted else { return plugins.filter { $0.path == path } }
        let result = PluginLibrary.open(path)
        plugins += result.plugins
        refused += result.refused
        return result.plugins
    }

    static func isLibraryName(_ name: String) -> Bool {
        name.hasSuffix(".so") || name.contains(".so.") || name.hasSuffix(".dylib")
    }

    // MARK: Choosing plugins

    /// The plugin of `kind` named `selector` (`NAME`, or `NAME@PATH` to choose among several).
    public func plugin(_ selector: String, kind: PluginKind) throws -> PluginRecord {
        var name = selector
        var path: String?
        if let at = selector.firstIndex(of: "@") {
            name = String(selector[..<at])
            // Absolute, so that dlopen never searches the system's library path for a bare file name.
            path = URL(fileURLWithPath: String(selector[selector.index(after: at)...])).standardizedFileURL.path
            if let path, !plugins.contains(where: { URL(fileURLWithPath: $0.path).standardizedFileURL.path == path }) { load(library: path) }
        }
        var matches = plugins.filter { $0.kind == kind && $0.name == name }
        if let path {
            let wanted = URL(fileURLWithPath: path).standardizedFileURL.path
            matches = matches.filter { URL(fileURLWithPath: $0.path).standardizedFileURL.path == wanted }
        }
        if matches.isEmpty {
            if let other = plugins.first(where: { $0.name == name }) {
                throw PluginHostError.wrongKind(name: name, expected: kind.rawValue, found: other.kind.rawValue)
            }
            if let refusal = refused.first(where: { path != nil ? $0.path == path : URL(fileURLWithPath: $0.path).lastPathComponent.contains(name) }) {
                throw PluginHostError.refused(path: refusal.path, reason: refusal.reason)
            }
            throw PluginHostError.notFound(
                name: name, kind: kind.rawValue, available: plugins.filter { $0.kind == kind }.map(\.name),
                refusedLibraries: Set(refused.map(\.path)).count)
        }
        guard matches.count == 1 else { throw PluginHostError.conflict(name: name, paths: matches.map(\.path)) }
        return matches[0]
    }

    /// A new instance of `record` with `configurationJSON` (a JSON object; "{}" when empty).
    public func instantiate(_ record: PluginRecord, configurationJSON: String = "{}") throws -> PluginInstance {
        try PluginInstance(record: record, services: services, configurationJSON: configurationJSON.isEmpty ? "{}" : configurationJSON)
    }

    /// An autorater plugin (`NAME` or `NAME@PATH`) as an `Autorater`.
    public func makeAutorater(name: String, configurationJSON: String = "{}") throws -> Autorater {
        try PluginAutorater(instance: instantiate(plugin(name, kind: .autorater), configurationJSON: configurationJSON))
    }

    /// A hook plugin as a `LayerHook` (attach it with `Transformer.withHooks`).
    public func makeHook(name: String, configurationJSON: String = "{}") throws -> PluginLayerHook {
        try PluginLayerHook(instance: instantiate(plugin(name, kind: .hook), configurationJSON: configurationJSON))
    }

    // MARK: Trait packs

    /// The pack of a trait-pack plugin, validated, with its filters.
    public func loadPack(_ record: PluginRecord) throws -> LoadedPack {
        guard record.kind == .traitPack else {
            throw PluginHostError.wrongKind(name: record.name, expected: PluginKind.traitPack.rawValue, found: record.kind.rawValue)
        }
        let instance = try instantiate(record)
        let functions = record.functionTable(persona_trait_pack_functions.self)
        guard let jsonPointer = functions.pack_json(instance.context) else {
            throw PluginHostError.badPlugin(name: record.name, reason: "pack_json returned NULL")
        }
        let source = "\(record.path) (\(record.name))"
        let pack: TraitPack
        do { pack = try JSONDecoder().decode(TraitPack.self, from: Data(String(cString: jsonPointer).utf8)) } catch {
            throw PackError.unreadable(path: source, reason: "pack_json is not a pack.json: \(PackFiles.describe(error))")
        }
        try PackValidation.validate(pack, source: source)
        guard pack.name == record.name else {
            throw PackError.invalid(source: source, problems: ["the library calls the pack \"\(record.name)\" but its pack.json says \"\(pack.name)\""])
        }
        let count = Int(functions.filter_count(instance.context))
        guard count <= 64 else { throw PluginHostError.badPlugin(name: record.name, reason: "declares \(count) filters") }
        var filters: [PairFilter] = []
        for i in 0..<count {
            let name = functions.filter_name?(instance.context, UInt32(i)).map { String(cString: $0) } ?? "filter-\(i)"
            filters.append(PluginPairFilter(instance: instance, index: UInt32(i), name: name))
        }
        // The version's build suffix ("+hash" of the embedded pack.json) is left out: the pack's data
        // is already in the content hash, and with the suffix a change to the behavioural items alone
        // (which no stage but `behave` reads) would recompute every answer of a run.
        let release = record.version.split(separator: "+", maxSplits: 1).first.map(String.init) ?? record.version
        return LoadedPack(pack: pack, source: record.path, filters: filters, filterIdentity: "\(record.name)@\(release)")
    }

    /// Every pack the host can offer: trait-pack plugins and `extraFolders` (bare pack folders,
    /// pack.json or reference JSON files). Invalid packs are refused with their problems; the
    /// others load.
    public func discoverPacks(extraFolders: [String] = []) -> (packs: [LoadedPack], refused: [RefusedPlugin]) {
        var packs: [LoadedPack] = []
        var refusals: [RefusedPlugin] = []
        for record in plugins where record.kind == .traitPack {
            do { packs.append(try loadPack(record)) } catch { refusals.append(RefusedPlugin(path: record.path, reason: "\(error)")) }
        }
        for folder in extraFolders {
            do { packs.append(try Self.loadPackFile(folder)) } catch { refusals.append(RefusedPlugin(path: folder, reason: "\(error)")) }
        }
        return (packs, refusals)
    }

    /// A bare pack folder (or pack.json / reference JSON), validated. No custom filters.
    public static func loadPackFile(_ path: String) throws -> LoadedPack {
        let pack = try PackFiles.read(path)
        try PackValidation.validate(pack, source: path)
        return LoadedPack(pack: pack, source: path)
    }

    /// The packs named `names` (nil = every pack found) plus every pack in `extraFolders`. A name
    /// given by a folder takes precedence over a library of the same name. Throws on an unknown
    /// name, an invalid requested pack, or two libraries offering one name.
    public func loadPacks(names: [String]?, extraFolders: [String] = []) throws -> [LoadedPack] {
        var fromFolders: [LoadedPack] = []
        for folder in extraFolders { fromFolders.append(try Self.loadPackFile(folder)) }
        let folderNames = Set(fromFolders.map(\.name))
        var result = fromFolders
        let records = plugins.filter { $0.kind == .traitPack }
        let wanted = names ?? Array(Set(records.map(\.name))).sorted()
        for selector in wanted {
            let name = selector.split(separator: "@", maxSplits: 1).first.map(String.init) ?? selector
            if folderNames.contains(name) { continue }
            do {
                result.append(try loadPack(plugin(selector, kind: .traitPack)))
            } catch PluginHostError.notFound {
                throw PackError.notFound(name: name, available: (records.map(\.name) + folderNames).sorted())
            }
        }
        return result
    }
}
