// swift-tools-version: 6.1
// Persona: a Swift-native laboratory for persona vectors. See DESIGN.md (shared) and README.md.
import PackageDescription
import Foundation

// MARK: Plugins, trait packs and C test fixtures: dynamic libraries the host loads with dlopen.
//
// Every folder under TraitPacks/ holding a pack.json becomes a library `PersonaPack_NAME` (its data
// embedded at build time by the EmbedPackData build-tool plugin; its Pack.swift exports the entry and
// any custom filters). SwiftPM caches this manifest by its text and environment, not by the folder
// listing: the Makefile exports PERSONA_TRAIT_PACKS (the folder list) so that a new folder changes the
// environment and is seen; folders named there are added even when the listing below missed them.
let packageDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
let traitPackNames: [String] = {
    let root = packageDirectory.appendingPathComponent("TraitPacks")
    var names = Set((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [])
    let listed = ProcessInfo.processInfo.environment["PERSONA_TRAIT_PACKS"] ?? ""
    names.formUnion(listed.split(whereSeparator: { $0 == " " || $0 == "," || $0 == ":" }).map(String.init))
    return names.filter { FileManager.default.fileExists(atPath: root.appendingPathComponent($0).appendingPathComponent("pack.json").path) }.sorted()
}()
let pluginLibraries: [(product: String, target: String, path: String, swift: Bool)] =
    [("PersonaLocalJudge", "LocalJudge", "Plugins/LocalJudge", true),
     ("PersonaOpenAIAutorater", "OpenAIAutorater", "Plugins/OpenAIAutorater/Plugin", true),
     ("PersonaProjectionProbe", "ProjectionProbe", "Plugins/ProjectionProbe", true)]
    + ["Good", "BadVersion", "SmallStruct", "NoSymbol", "CreateFails", "BadPack", "V1Size"].map {
        ("PersonaTestFixture\($0)", "PersonaTestFixture\($0)", "Tests/PluginFixtures/PersonaTestFixture\($0)", false) }
let pluginProducts: [Product] =
    pluginLibraries.map { .library(name: $0.product, type: .dynamic, targets: [$0.target]) }
    + traitPackNames.map { .library(name: "PersonaPack_\($0)", type: .dynamic, targets: ["TraitPack_\($0)"]) }
let pluginTargets: [Target] =
    pluginLibraries.map { lib in
        lib.swift ? .target(name: lib.target, dependencies: ["PersonaPluginKit", "PersonaABI"] + (lib.target == "OpenAIAutorater" ? ["OpenAIJudgeCore"] : []), path: lib.path)
                  : .target(name: lib.target, path: lib.path)
    }
    + traitPackNames.map {
        .target(name: "TraitPack_\($0)", dependencies: ["PersonaPluginKit", "PersonaABI"], path: "TraitPacks/\($0)",
                exclude: ["pack.json"], plugins: ["EmbedPackData"])
    }
    + [
        .executableTarget(name: "PackEmbedder", path: "BuildTools/PackEmbedder"),
        .plugin(name: "EmbedPackData", capability: .buildTool(), dependencies: ["PackEmbedder"], path: "BuildTools/EmbedPackData"),
    ]
#if arch(x86_64)
let kernelSettings: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let kernelSettings: [SwiftSetting] = []
#endif

let package = Package(
    name: "Persona",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "persona", targets: ["persona"]),
    ] + pluginProducts,
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // Numeric core: OpenBLAS bridge, SIMD kernels, quantized block formats.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .target(name: "PersonaTensor", dependencies: ["COpenBLAS", "COpenBLASCore", "PersonaKernels"]),
        // Start-up check of OpenBLAS's kernel choice (an unknown CPU gets its slowest kernels).
        .target(name: "COpenBLASCore", linkerSettings: [.linkedLibrary("openblas")]),
        // Fused quantized matrix kernels, compiled for a CPU level that PersonaTensor checks at run
        // time before calling them (haswell: AVX2, FMA, F16C, BMI).
        .target(name: "PersonaKernels", swiftSettings: kernelSettings),
        // Model files, tokenizer, chat templates, transformer.
        .target(name: "PersonaModel", dependencies: ["PersonaTensor"]),
        // The engine.
        .target(name: "PersonaCore", dependencies: [
            "PersonaModel", "PersonaABI", "CPersonaLoader",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "GRDB", package: "GRDB.swift"),   // the run store (SQLite)
        ]),
        // The plugin ABI (C header only), the host's dlopen helper, and the Swift kit for plugin authors.
        .target(name: "PersonaABI"),
        .target(name: "CPersonaLoader"),
        .target(name: "PersonaPluginKit", dependencies: ["PersonaABI"]),
        // The host command-line program.
        .executableTarget(name: "persona", dependencies: [
            "PersonaCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Test helpers shared by the test targets: paths, references, GGUF builder, tiny model.
        .target(name: "PersonaTestSupport", dependencies: ["PersonaModel"], path: "Tests/PersonaTestSupport"),
        .testTarget(name: "PersonaTensorTests", dependencies: ["PersonaTensor", "PersonaKernels"]),
        .testTarget(name: "PersonaModelTests", dependencies: ["PersonaModel", "PersonaTestSupport"]),
        .testTarget(name: "PersonaCoreTests", dependencies: ["PersonaCore", "PersonaTestSupport", "PipelineTestSupport"]),
        // Pipeline tests: a deterministic text-derived autorater (tests only) and a host program that
        // runs the pipeline with it, for the kill -9 / resume test (run as a subprocess).
        .target(name: "PipelineTestSupport", dependencies: ["PersonaCore"], path: "Tests/PipelineTestSupport"),
        .executableTarget(name: "pipeline-testhost", dependencies: ["PersonaCore", "PipelineTestSupport"], path: "Tests/PipelineTestHost"),
        // Plugin tests dlopen the built libraries; they must not link plugin targets.
        .testTarget(name: "PluginTests", dependencies: ["PersonaCore", "PersonaTestSupport"]),
        // The `openai` autorater's scoring core (plain Swift; the plugin library wraps it).
        .target(name: "OpenAIJudgeCore", path: "Plugins/OpenAIAutorater/Core"),
        // persona serve, the openai autorater against it and against faulty loopback servers.
        .testTarget(name: "PersonaServeTests", dependencies: [
            "PersonaCore", "OpenAIJudgeCore", "PersonaTestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
    ] + pluginTargets,
    swiftLanguageModes: [.v5]
)
