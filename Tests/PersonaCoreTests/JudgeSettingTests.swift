// Issue 22, the parts of the run's state with their own API: how the judge of a stage run alone is
// chosen, and the warning when a trait falls back from its pack library to a folder.
import Foundation
import XCTest
import PersonaTestSupport
import PipelineTestSupport
@testable import PersonaCore

final class JudgeSettingAndPackFallbackTests: XCTestCase {
    /// Defect 1: the judge options given over the run's stored judge over local-judge.
    func testJudgeSettingResolution() {
        let stored = JudgeSetting(plugin: "local-judge", configuration: "{\"model\": \"qwen2.5-1.5b\"}")
        XCTAssertEqual(JudgeSetting.resolve(plugin: nil, configuration: nil, stored: nil), JudgeSetting(plugin: "local-judge"))
        XCTAssertEqual(JudgeSetting.resolve(plugin: nil, configuration: nil, stored: stored), stored)
        XCTAssertEqual(JudgeSetting.resolve(plugin: "local-judge", configuration: nil, stored: stored), stored)
        XCTAssertEqual(JudgeSetting.resolve(plugin: "openai", configuration: nil, stored: stored), JudgeSetting(plugin: "openai"))
        XCTAssertEqual(JudgeSetting.resolve(plugin: nil, configuration: "{}", stored: stored), JudgeSetting(plugin: "local-judge", configuration: "{}"))
        XCTAssertNoThrow(try JudgeSetting.checkRestored(identity: "a", recorded: "a", plugin: "local-judge", run: "r"))
        XCTAssertNoThrow(try JudgeSetting.checkRestored(identity: "a", recorded: nil, plugin: "local-judge", run: "r"))
        assertThrows(PipelineError.judgeChanged(run: "r", recorded: "b", plugin: "local-judge", found: "a")) {
            try JudgeSetting.checkRestored(identity: "a", recorded: "b", plugin: "local-judge", run: "r")
        }
    }

    /// Defect 4: a trait named without a path whose pack library is missing falls back to its folder
    /// and says so (the folder has none of the library's filters, and other cache keys).
    func testLibraryToFolderFallbackWarns() throws {
        let dir = try TestPaths.temporaryDirectory()
        let folder = try TestPack.write(in: dir)
        // "grumpy" has no pack library: the folder found through PERSONA_PACK_PATH is used, with a warning.
        setenv("PERSONA_PACK_PATH", folder.deletingLastPathComponent().path, 1)
        defer { unsetenv("PERSONA_PACK_PATH") }
        var warnings: [String] = []
        let packs = try PipelineEnvironment.loadPacks(names: ["grumpy"]) { warnings.append($0) }
        XCTAssertEqual(packs.map(\.name), ["grumpy"])
        XCTAssertEqual(warnings.count, 1)
        XCTAssert(
            warnings.first?.contains("trait grumpy: no pack library named grumpy") == true && warnings.first?.contains("custom filters") == true, "\(warnings)")
        // Named by path: no library was asked for, nothing to warn about.
        warnings = []
        _ = try PipelineEnvironment.loadPacks(names: [folder.path]) { warnings.append($0) }
        XCTAssertEqual(warnings, [])
    }
}
