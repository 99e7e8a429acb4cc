// swift-tools-version: 6.1
// Persona: a Swift-native laboratory for persona vectors. See DESIGN.md (shared) and README.md.
import PackageDescription
import Foundation

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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Numeric core: OpenBLAS bridge, SIMD kernels, quantized block formats.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .target(name: "PersonaTensor", dependencies: ["COpenBLAS", "PersonaKernels"]),
        // Fused quantized matrix kernels, compiled for a CPU level that PersonaTensor checks at run
        // time before calling them (haswell: AVX2, FMA, F16C, BMI).
        .target(name: "PersonaKernels", swiftSettings: kernelSettings),
        // Model files, tokenizer, chat templates, transformer.
        .target(name: "PersonaModel", dependencies: ["PersonaTensor"]),
        // The engine.
        .target(name: "PersonaCore", dependencies: ["PersonaModel"]),
        // The host command-line program.
        .executableTarget(name: "persona", dependencies: [
            "PersonaCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Test helpers shared by the test targets: paths, references, GGUF builder, tiny model.
        .target(name: "PersonaTestSupport", dependencies: ["PersonaModel"], path: "Tests/PersonaTestSupport"),
        .testTarget(name: "PersonaTensorTests", dependencies: ["PersonaTensor", "PersonaKernels"]),
        .testTarget(name: "PersonaModelTests", dependencies: ["PersonaModel", "PersonaTestSupport"]),
        .testTarget(name: "PersonaCoreTests", dependencies: ["PersonaCore", "PersonaTestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
