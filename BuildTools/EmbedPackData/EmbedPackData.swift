// SwiftPM build-tool plugin: turns a trait-pack folder's pack.json into PackData.swift, so that the
// pack's library carries its data (SwiftPM resources are unusable in a dlopen'd library installed
// elsewhere: Bundle.module looks next to the host executable).
import Foundation
import PackagePlugin

@main
struct EmbedPackData: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let input = target.directoryURL.appending(path: "pack.json")
        let output = context.pluginWorkDirectoryURL.appending(path: "PackData.swift")
        return [.buildCommand(
            displayName: "Embedding \(target.directoryURL.lastPathComponent)/pack.json",
            executable: try context.tool(named: "PackEmbedder").url,
            arguments: [input.path, output.path, target.directoryURL.lastPathComponent],
            inputFiles: [input],
            outputFiles: [output])]
    }
}
