// SwiftPM build-tool plugin for a trait-pack target `TraitPack_NAME`: turns TraitPacks/NAME/pack.json
// into PackData.swift (SwiftPM resources are unusable in a dlopen'd library installed elsewhere:
// Bundle.module looks next to the host executable) and writes the library's entry point,
// PackEntry.swift. A pack with custom filters has its own Swift file(s) in its folder defining
// `let filters: [PackFilter]` (the target is then rooted at the folder); a pack folder holding only
// pack.json gets an entry with no filters (its target is rooted at a one-line stub that Package.swift
// writes under .build, since SwiftPM takes a folder without Swift files for an empty C target).
import Foundation
import PackagePlugin

@main
struct EmbedPackData: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let prefix = "TraitPack_"
        let name = target.name.hasPrefix(prefix) ? String(target.name.dropFirst(prefix.count)) : target.directoryURL.lastPathComponent
        let folder = context.package.directoryURL.appending(path: "TraitPacks").appending(path: name)
        // Rooted at the pack folder means the pack brings Swift files: its filters.
        let hasFilters = target.directoryURL.standardizedFileURL.path == folder.standardizedFileURL.path
        let input = folder.appending(path: "pack.json")
        let data = context.pluginWorkDirectoryURL.appending(path: "PackData.swift")
        let entry = context.pluginWorkDirectoryURL.appending(path: "PackEntry.swift")
        return [.buildCommand(
            displayName: "Embedding \(name)/pack.json",
            executable: try context.tool(named: "PackEmbedder").url,
            arguments: [input.path, context.pluginWorkDirectoryURL.path, name, hasFilters ? "custom-filters" : "no-filters"],
            inputFiles: [input],
            outputFiles: [data, entry])]
    }
}
