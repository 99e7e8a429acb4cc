// Where the built plugin libraries are (the build folder, next to the test bundle), and folders
// holding chosen libraries for one test. Tests dlopen the built .so files; they never link plugin
// targets (each would bring its own persona_plugin_entry).
import Foundation
import XCTest
import PersonaTestSupport
@testable import PersonaCore

enum BuiltLibraries {
    /// The build folder (`swift build --show-bin-path`): the test bundle's folder.
    static var folder: URL {
        var dir = Bundle.main.bundleURL
        if dir.pathExtension == "xctest" { dir.deleteLastPathComponent() }
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("libPersonaTestFixtureGood.so").path) { return dir }
        for b in Bundle.allBundles where b.bundleURL.pathExtension == "xctest" { return b.bundleURL.deletingLastPathComponent() }
        return dir
    }

    /// The path of `lib<product>.so`, skipping the test when it was not built.
    static func path(_ product: String) throws -> String {
        let url = folder.appendingPathComponent("lib\(product).so")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TestEnvironment.skipOrFail("\(url.path) is not built: run `swift build -c release` (make test does)")
        }
        return url.path
    }

    /// A fresh folder holding copies of the named libraries (copies, so that two folders give two
    /// distinct files for conflict tests).
    static func folder(with products: [String]) throws -> URL {
        let dir = try TestPaths.temporaryDirectory()
        for p in products {
            try FileManager.default.copyItem(atPath: try path(p), toPath: dir.appendingPathComponent("lib\(p).so").path)
        }
        return dir
    }

    /// Every folder under TraitPacks/ holding a pack.json (what Package.swift builds), never a fixed list.
    static var packFolders: [String] {
        let root = TestPaths.root.appendingPathComponent("TraitPacks")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: root.appendingPathComponent("\($0)/pack.json").path) }.sorted()
    }
}

/// Collects plugin log lines.
final class LogCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    var sink: PluginLogSink {
        { [self] level, message in
            lock.lock(); lines.append("\(level):\(message)"); lock.unlock()
        }
    }
}
