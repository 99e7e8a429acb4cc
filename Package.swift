// swift-tools-version: 6.1
// Persona: a Swift-native laboratory for persona vectors. See DESIGN.md (shared) and README.md.
import PackageDescription
import Foundation

let package = Package(
    name: "Persona",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "persona", targets: ["persona"]),
        .library(name: "OpenAIAutorater", type: .dynamic, targets: ["OpenAIAutorater"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        // Numeric core: OpenBLAS bridge, SIMD kernels, quantized block formats.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .target(name: "PersonaTensor", dependencies: ["COpenBLAS"]),
        // Model files, tokenizer, chat templates, transformer.
        .target(name: "PersonaModel", dependencies: ["PersonaTensor"]),
        // The engine.
        .target(name: "PersonaCore", dependencies: [
            "PersonaModel", "PersonaABI", "CPersonaLoader",
            .product(name: "Hummingbird", package: "hummingbird"),
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
        .testTarget(name: "PersonaTensorTests", dependencies: ["PersonaTensor"]),
        .testTarget(name: "PersonaModelTests", dependencies: ["PersonaModel", "PersonaTestSupport"]),
        .testTarget(name: "PersonaCoreTests", dependencies: ["PersonaCore", "PersonaTestSupport"]),
        // The `openai` autorater: scoring core (plain Swift, tested directly) and the plugin library.
        .target(name: "OpenAIJudgeCore", path: "Plugins/OpenAIAutorater/Core"),
        .target(name: "OpenAIAutorater", dependencies: ["OpenAIJudgeCore", "PersonaPluginKit", "PersonaABI"], path: "Plugins/OpenAIAutorater/Plugin"),
        // persona serve, the openai autorater against it and against faulty loopback servers.
        .testTarget(name: "PersonaServeTests", dependencies: [
            "PersonaCore", "OpenAIJudgeCore", "PersonaTestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)
