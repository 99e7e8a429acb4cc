// Shared helpers for model tests: where the package, the models and the references are.
import Foundation
import XCTest

public enum TestPaths {
    /// The package root (two levels above this file's folder).
    public static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static let reference = root.deletingLastPathComponent().appendingPathComponent("shared/reference")

    /// A default model's GGUF path; fails the test (with the fix) when `make models` has not run.
    public static func model(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let dir = ProcessInfo.processInfo.environment["PERSONA_MODELS_DIR"] ?? root.appendingPathComponent("models").path
        let path = "\(dir)/\(name).gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            XCTFail("missing \(path): run `make models`", file: file, line: line)
            throw XCTSkip("model missing")
        }
        return path
    }

    /// A fresh temporary directory removed at the end of the process.
    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("persona-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Skips that would hide a failure (a server that does not start, a binary not built, a malformed
/// reference) become failures when the environment has CI=true; a test that needs a file we do not
/// fetch (the large model, chromium) throws a plain XCTSkip and says so.
public enum TestEnvironment {
    public static var isCI: Bool { isCI(ProcessInfo.processInfo.environment) }
    static func isCI(_ environment: [String: String]) -> Bool { environment["CI"]?.lowercased() == "true" }

    /// The error to throw when a precondition of the test is missing: XCTSkip locally, a failure under CI=true.
    public static func skipOrFail(_ reason: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> Error {
        isCI(environment) ? EnvironmentFailure(description: "\(reason) (CI=true: a failure, not a skip)") : XCTSkip(reason)
    }
}

/// A missing test precondition under CI=true (thrown: XCTest reports a thrown error as a failure).
public struct EnvironmentFailure: Error, CustomStringConvertible {
    public let description: String
}

/// Asserts that `body` throws an error equal to `expected`, printing what was thrown otherwise.
public func assertThrows<E: Error & Equatable, T>(_ expected: E, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected \(expected), nothing was thrown", file: file, line: line)
    } catch let error as E {
        XCTAssertEqual(error, expected, file: file, line: line)
    } catch {
        XCTFail("expected \(expected), got \(error)", file: file, line: line)
    }
}

/// A TCP port on 127.0.0.1 with nothing listening (bound, then closed).
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestEnvironment.skipOrFail("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    guard bound == 0 else { throw TestEnvironment.skipOrFail("bind() failed") }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
