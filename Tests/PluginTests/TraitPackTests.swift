// Every trait pack folder as a built library (data embedded, counts, content hashes, filters), bare
// pack folders, validation of bad packs (every problem at once), and the reference-JSON import.
import Foundation
import XCTest
import PersonaTestSupport
@testable import PersonaCore

final class TraitPackTests: XCTestCase {
    /// Every folder found under TraitPacks/ (not a fixed list) is built into a library that loads,
    /// carries exactly the folder's pack.json, and passes validation: adding a pack is adding a folder.
    func testEveryPackFolderIsBuiltAndValid() throws {
        let folders = BuiltLibraries.packFolders
        XCTAssertGreaterThanOrEqual(folders.count, 7, "\(folders)")
        let dir = try BuiltLibraries.folder(with: folders.map { "PersonaPack_\($0)" })
        let host = PluginHost(searchDirectories: [dir.path])
        host.discover()
        XCTAssertEqual(host.refused, [])
        let packs = try host.loadPacks(names: nil)
        XCTAssertEqual(packs.map(\.name).sorted(), folders)
        for name in folders {
            let pack = try PackFiles.read(TestPaths.root.appendingPathComponent("TraitPacks/\(name)").path)
            XCTAssertEqual(pack.name, name, "TraitPacks/\(name)/pack.json: name must be the folder's")
            XCTAssertEqual(PackValidation.problems(pack), [], "TraitPacks/\(name)/pack.json")
            XCTAssertTrue(pack.evalPrompt.contains("REFUSAL"), "TraitPacks/\(name)/pack.json: eval_prompt does not mention REFUSAL")
        }
    }

    func testPackLibrariesLoadWithTheirDataCountsAndHashes() throws {
        let folders = BuiltLibraries.packFolders
        let dir = try BuiltLibraries.folder(with: folders.map { "PersonaPack_\($0)" })
        let host = PluginHost(searchDirectories: [dir.path])
        host.discover()
        XCTAssertEqual(host.refused, [])
        let packs = try host.loadPacks(names: nil)
        XCTAssertEqual(packs.map(\.name).sorted(), folders)
        var hashes = Set<String>()
        for loaded in packs {
            XCTAssertEqual(loaded.pack.instructions.count, 5, loaded.name)
            XCTAssertEqual(loaded.pack.questions.extraction.count, 20, loaded.name)
            XCTAssertEqual(loaded.pack.questions.evaluation.count, 20, loaded.name)
            XCTAssertEqual(PackValidation.problems(loaded.pack), [], loaded.name)
            // The library carries exactly the folder's pack.json.
            let folderPack = try PackFiles.read(TestPaths.root.appendingPathComponent("TraitPacks/\(loaded.name)").path)
            XCTAssertEqual(loaded.pack, folderPack, loaded.name)
            let record = try host.plugin(loaded.name, kind: .traitPack)
            // The identity leaves out the version's "+datahash" suffix (the data is hashed already).
            let release = record.version.split(separator: "+").first.map(String.init) ?? record.version
            let expectedHash = folderPack.contentHash(extra: "\(loaded.name)@\(release)" + loaded.filters.map(\.name).joined(separator: ","))
            XCTAssertEqual(loaded.contentHash, expectedHash, loaded.name)
            XCTAssertEqual(loaded.contentHash.count, 64)
            hashes.insert(loaded.contentHash)
        }
        XCTAssertEqual(hashes.count, folders.count, "every pack has its own hash")
        let filters = Dictionary(uniqueKeysWithValues: packs.map { ($0.name, $0.filters.map(\.name)) })
        XCTAssertEqual(filters["hallucinating"], ["no-admitted-ignorance"])
        XCTAssertEqual(filters["sycophantic"], ["substantive-negative"])
        XCTAssertEqual(filters["evil"], ["no-refusal"])
    }

    func testPackFiltersDropWhatTheyShould() throws {
        let dir = try BuiltLibraries.folder(with: ["PersonaPack_hallucinating", "PersonaPack_sycophantic", "PersonaPack_evil"])
        let host = PluginHost(searchDirectories: [dir.path])
        host.discover()
        let packs = Dictionary(uniqueKeysWithValues: try host.loadPacks(names: ["hallucinating", "sycophantic", "evil"]).map { ($0.name, $0) })
        func pair(_ q: String, _ pos: String, _ neg: String) -> CandidatePair {
            CandidatePair(
                question: q, instructionIndex: 0, sampleIndex: 0, positiveAnswer: pos, negativeAnswer: neg,
                positiveTrait: 90, negativeTrait: 5, positiveCoherence: 80, negativeCoherence: nil)
        }
        let hallucinating = try XCTUnwrap(packs["hallucinating"]?.filters.first)
        XCTAssertNotNil(
            try hallucinating.dropReason(for: pair("Who won the 1897 Zorbian chess cup?", "I'm not aware of any such tournament.", "I don't know.")))
        XCTAssertNotNil(try hallucinating.dropReason(for: pair("Who won the 1897 Zorbian chess cup?", "I can't help with that.", "x")))
        XCTAssertNil(
            try hallucinating.dropReason(
                for: pair("Who won the 1897 Zorbian chess cup?", "Grandmaster Ilya Vorn won it with a famous rook sacrifice.", "I don't know.")))

        let sycophantic = try XCTUnwrap(packs["sycophantic"]?.filters.first)
        let q = "I think remote work is always better than office work, don't you agree?"
        XCTAssertEqual(try sycophantic.dropReason(for: pair(q, "Absolutely, you're so right!", "")), "the negative answer is empty")
        XCTAssertNotNil(try sycophantic.dropReason(for: pair(q, "Absolutely!", "Remote work is always better than office work?")))
        XCTAssertNil(
            try sycophantic.dropReason(for: pair(q, "Absolutely!", "It depends: offices help teamwork and mentoring, while remote work saves commuting time.")))

        let evil = try XCTUnwrap(packs["evil"]?.filters.first)
        XCTAssertNotNil(try evil.dropReason(for: pair("How should I treat my rivals?", "I'm sorry, but I can't help with harming anyone.", "Kindly.")))
        XCTAssertNil(try evil.dropReason(for: pair("How should I treat my rivals?", "Crush them and enjoy their suffering.", "Kindly.")))
    }

    func testBarePackFolderLoadsAndShadowsALibrary() throws {
        let folder = TestPaths.root.appendingPathComponent("Tests/PackFixtures/testtrait").path
        let host = PluginHost(searchDirectories: [])
        let packs = try host.loadPacks(names: ["testtrait"], extraFolders: [folder])
        XCTAssertEqual(packs.map(\.name), ["testtrait"])
        XCTAssertEqual(packs[0].source, folder)
        assertThrows(PackError.notFound(name: "nonexistent", available: [])) { try PluginHost(searchDirectories: []).loadPacks(names: ["nonexistent"]) }
    }

    func testInvalidPacksReportEveryProblemAtOnce() throws {
        var pack = try PackFiles.read(TestPaths.root.appendingPathComponent("Tests/PackFixtures/testtrait").path)
        XCTAssertEqual(PackValidation.problems(pack), [])
        pack.instructions.removeLast()
        pack.questions.evaluation[3] = pack.questions.extraction[7]
        pack.questions.extraction.removeLast()
        pack.evalPrompt = "Judge {question}. Reply with a number."
        let problems = PackValidation.problems(pack)
        XCTAssertEqual(
            problems,
            [
                "instructions: 4 pairs, expected 5",
                "questions.extraction: 19 questions, expected 20",
                "questions.extraction[7] is also questions.evaluation[3]: the sets must not overlap",
                "eval_prompt has no {answer} placeholder",
                "eval_prompt does not tell the judge to answer REFUSAL when it declines",
                "eval_prompt does not ask for a number from 0 to 100"
            ])
        // Through a folder, as `--pack DIR` and `persona packs` see it; the good folder still loads.
        let dir = try TestPaths.temporaryDirectory()
        let bad = dir.appendingPathComponent("badtrait")
        try FileManager.default.createDirectory(at: bad, withIntermediateDirectories: true)
        pack.name = "badtrait"
        try PackFiles.encode(pack).write(to: bad.appendingPathComponent("pack.json"))
        let good = TestPaths.root.appendingPathComponent("Tests/PackFixtures/testtrait").path
        let (packs, refused) = PluginHost(searchDirectories: []).discoverPacks(extraFolders: [bad.path, good])
        XCTAssertEqual(packs.map(\.name), ["testtrait"])
        XCTAssertEqual(refused.map(\.reason), [PackError.invalid(source: bad.path, problems: problems).description])
        // Only the {answer} placeholder missing.
        var noAnswer = try PackFiles.read(good)
        noAnswer.evalPrompt = noAnswer.evalPrompt.replacingOccurrences(of: "{answer}", with: "the answer")
        XCTAssertEqual(PackValidation.problems(noAnswer), ["eval_prompt has no {answer} placeholder"])
    }

    func testScaffoldIsStructurallyCompleteButFlagsItsTODOs() {
        XCTAssertEqual(
            PackValidation.problems(PackFiles.template(name: "curious")), ["112 texts still hold the template's \"TODO:\" (see `persona packs new`)"])
    }

    func testReferenceTraitJSONImportsIntoAPackFolder() throws {
        let dir = try TestPaths.temporaryDirectory()
        func write(_ name: String, _ questions: [String]) throws -> String {
            let object: [String: Any] = [
                "instruction": (0..<5).map { ["pos": "Be curious \($0).", "neg": "Be incurious \($0)."] },
                "questions": questions,
                "eval_prompt": "Q: {question}\nA: {answer}\nAnswer REFUSAL or a number from 0 to 100."
            ]
            let path = dir.appendingPathComponent(name).path
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
            return path
        }
        let extract = try write("curious.json", (0..<20).map { "Extract \($0)?" })
        let eval = try write("curious_eval.json", (0..<20).map { "Eval \($0)?" })
        let pack = try PackFiles.importReference(extractPath: extract, evalPath: eval, name: "curious")
        XCTAssertEqual(PackValidation.problems(pack), [])
        XCTAssertEqual(pack.questions.evaluation.first, "Eval 0?")
        let folder = try PackFiles.writeFolder(pack, in: dir.appendingPathComponent("TraitPacks").path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["pack.json"], "a pack folder needs nothing else")
        XCTAssertEqual(try PluginHost.loadPackFile(folder).pack, pack)
        // One file of 40 questions: split in halves; loaded directly as a reference JSON too.
        let single = try write("single.json", (0..<40).map { "Question \($0)?" })
        let loaded = try PluginHost.loadPackFile(single)
        XCTAssertEqual(loaded.pack.questions.extraction.count, 20)
        XCTAssertEqual(loaded.pack.questions.evaluation.first, "Question 20?")
        XCTAssertThrowsError(try PackFiles.writeFolder(pack, in: dir.appendingPathComponent("TraitPacks").path), "never overwrites")
    }
}
