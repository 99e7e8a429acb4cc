// swift-tools-version: 6.1
// Persona: a Swift-native laboratory for persona vectors. See DESIGN.md (shared) and README.md.
import PackageDescription
import Foundation

let package = Package(
    name: "Persona",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "persona", targets: ["persona"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // Numeric core: OpenBLAS bridge, SIMD kernels, quantized block formats.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .target(name: "PersonaTensor", dependencies: ["COpenBLAS"]),
        // Model files, tokenizer, chat templates, transformer.
        .target(name: "PersonaModel", dependencies: ["PersonaTensor"]),
        // The engine.
        .target(name: "PersonaCore", dependencies: [
            "PersonaModel",
            .product(name: "GRDB", package: "GRDB.swift"),   // the run store (SQLite)
        ]),
        // The host command-line program.
        .executableTarget(name: "persona", dependencies: [
            "PersonaCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Test helpers shared by the test targets: paths, references, GGUF builder, tiny model.
        .target(name: "PersonaTestSupport", dependencies: ["PersonaModel"], path: "Tests/PersonaTestSupport"),
        .testTarget(name: "PersonaTensorTests", dependencies: ["PersonaTensor"]),
        .testTarget(name: "PersonaModelTests", dependencies: ["PersonaModel", "PersonaTestSupport"]),
        .testTarget(name: "PersonaCoreTests", dependencies: ["PersonaCore", "PersonaTestSupport", "PipelineTestSupport"]),
        // Pipeline tests: a deterministic text-derived autorater (tests only) and a host program that
        // runs the pipeline with it, for the kill -9 / resume test (run as a subprocess).
        .target(name: "PipelineTestSupport", dependencies: ["PersonaCore"], path: "Tests/PipelineTestSupport"),
        .executableTarget(name: "pipeline-testhost", dependencies: ["PersonaCore", "PipelineTestSupport"], path: "Tests/PipelineTestHost"),
    ],
    swiftLanguageModes: [.v5]
)
