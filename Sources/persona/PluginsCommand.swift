// `persona plugins`: every plugin the host finds (name, kind, version, path) and every refused
// library with its reason. Also the `--hook NAME --hook-config JSON` option group.
import ArgumentParser
import Foundation
import PersonaCore
import PersonaModel

struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List the plugins found (build folder, PERSONA_PLUGIN_PATH, per-user folder) and the refused ones.")

    @Flag(help: "Print JSON.")
    var json = false

    struct Output: Encodable {
        struct Plugin: Encodable { let name, kind, version, path, description: String }
        struct Refused: Encodable { let path, reason: String }
        let searched: [String]
        let plugins: [Plugin]
        let refused: [Refused]
    }

    func run() throws {
        let host = PluginHost()
        host.discover()
        let output = Output(
            searched: host.searchDirectories,
            plugins: host.plugins.map { .init(name: $0.name, kind: $0.kind.rawValue, version: $0.version, path: $0.path, description: $0.summary) },
            refused: host.refused.map { .init(path: $0.path, reason: $0.reason) })
        if json { print(try jsonText(output)); return }
        print("searched: \(host.searchDirectories.joined(separator: ", "))")
        let rows = [["NAME", "KIND", "VERSION", "PATH"]] + output.plugins.map { [$0.name, $0.kind, $0.version, $0.path] }
        printTable(rows)
        if !output.refused.isEmpty {
            print("\nrefused:")
            for r in output.refused { print("  \(r.path): \(r.reason)") }
        }
    }
}

/// Prints rows as aligned columns.
func printTable(_ rows: [[String]]) {
    guard let columns = rows.map(\.count).max() else { return }
    let widths = (0..<columns).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
    for row in rows {
        print(
            row.enumerated().map { c, cell in c == row.count - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  "))
    }
}

/// `--hook NAME [--hook-config JSON]`, repeatable: hook plugins attached during generation.
struct HookPluginOptions: ParsableArguments {
    @Option(name: .customLong("hook"), help: ArgumentHelp("A hook plugin to attach (NAME or NAME@PATH); repeatable.", valueName: "name"))
    var hooks: [String] = []

    @Option(name: .customLong("hook-config"), help: ArgumentHelp("JSON configuration for each --hook (one for all, or one per --hook).", valueName: "json"))
    var configurations: [String] = []

    func validate() throws {
        guard configurations.count <= 1 || configurations.count == hooks.count else {
            throw ValidationError("give one --hook-config, or one per --hook (\(hooks.count) --hook, \(configurations.count) --hook-config)")
        }
        guard hooks.count > 0 || configurations.isEmpty else { throw ValidationError("--hook-config needs a --hook") }
    }

    /// The hooks, made by a plugin host that offers `model` to them.
    func makeHooks(model: LanguageModel) throws -> [LayerHook] {
        guard !hooks.isEmpty else { return [] }
        let host = PluginHost(hostModel: model)
        host.discover()
        return try hooks.indices.map { i in
            try host.makeHook(name: hooks[i], configurationJSON: configurations.isEmpty ? "{}" : configurations[configurations.count == 1 ? 0 : i])
        }
    }
}
