// The plugin host with libraries written in plain C: a good library with three plugins (autorater,
// hook, trait pack) works through the ABI; bad libraries are refused with their reasons while the
// others keep loading; name conflicts need NAME@PATH.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaABI
@testable import PersonaModel
@testable import PersonaCore

final class PluginHostTests: XCTestCase {
    func testCPluginLibraryOffersThreePluginsThatWork() throws {
        let dir = try BuiltLibraries.folder(with: ["PersonaTestFixtureGood"])
        let log = LogCollector()
        let host = PluginHost(searchDirectories: [dir.path], log: log.sink)
        host.discover()
        XCTAssertEqual(host.refused, [])
        XCTAssertEqual(Set(host.plugins.map(\.name)), ["c-judge", "c-hook", "c-pack"])
        XCTAssertEqual(host.plugins.first { $0.name == "c-hook" }?.kind, .hook)

        // Autorater (no model in the host: the plugin says so in its alternative).
        let judge = try host.makeAutorater(name: "c-judge")
        XCTAssertEqual(judge.cacheIdentity, "c-judge 1.0 (counts x)")
        var progress: [Int] = []
        let results = try judge.score(
            [
                JudgeRequest(question: "q", answer: "xxx", evalPrompt: "{question} {answer}"),
                JudgeRequest(question: "q", answer: "", evalPrompt: "{question} {answer}"),
                JudgeRequest(question: "q", answer: String(repeating: "x", count: 30), evalPrompt: "{question} {answer}")
            ], progress: { progress.append($0) })
        XCTAssertEqual(results.map(\.score), [30, nil, 100])
        XCTAssertEqual(results[1].noScoreReason, "empty answer")
        XCTAssertEqual(results[0].alternatives.first?.text, "no-model")
        XCTAssertEqual(progress.last, 3)
        XCTAssertTrue(log.all.contains("0:c-judge"), "create logs through the host services: \(log.all)")

        // Hook: layers, spans, positions, and the stream is modified in place.
        let hook = try host.makeHook(name: "c-hook", configurationJSON: #"{"add": 2.5}"#)
        XCTAssertEqual(hook.layers, [1, 3])
        var data = [Float](repeating: 0, count: 4 * 3)  // rows 0–2 sequence 7 (prefill at 10), row 3 sequence 9 (decode at 40)
        try data.withUnsafeMutableBufferPointer { buffer in
            let stream = ResidualStream(
                layer: 3, hiddenSize: 3,
                spans: [
                    SequenceSpan(sequence: 0, id: 7, rowStart: 0, rowCount: 3, startPosition: 10),
                    SequenceSpan(sequence: 1, id: 9, rowStart: 3, rowCount: 1, startPosition: 40)
                ], rowCount: 4, data: buffer.baseAddress!)
            try hook.process(stream)
        }
        XCTAssertEqual(data, [2.5, 10, 0, 2.5, 11, 0, 2.5, 12, 0, 2.5, 40, 0])

        // Trait pack with a filter, from C.
        let packs = try host.loadPacks(names: ["c-pack"])
        XCTAssertEqual(packs.count, 1)
        XCTAssertEqual(packs[0].pack.instructions.count, 5)
        XCTAssertEqual(packs[0].filters.map(\.name), ["no-empty-negative"])
        let pair = CandidatePair(
            question: "q", instructionIndex: 0, sampleIndex: 0, positiveAnswer: "yes", negativeAnswer: "",
            positiveTrait: 80, negativeTrait: nil, positiveCoherence: 90, negativeCoherence: nil)
        XCTAssertEqual(try packs[0].filters[0].dropReason(for: pair), "negative answer is empty (positive trait score present)")
        var kept = pair; kept.negativeAnswer = "no"
        XCTAssertNil(try packs[0].filters[0].dropReason(for: kept))
    }

    func testCPluginUsesTheHostModelServices() throws {
        let dir = try BuiltLibraries.folder(with: ["PersonaTestFixtureGood"])
        let model = try LoadedModels.exactLanguageModel("smollm2-135m")
        let host = PluginHost(searchDirectories: [dir.path], hostModel: model)
        host.discover()
        let request = JudgeRequest(question: "Why?", answer: "Because.", evalPrompt: "Q: {question} A: {answer}")
        let result = try host.makeAutorater(name: "c-judge").score([request], progress: nil)[0]
        XCTAssertEqual(result.alternatives.first?.text, "tokens=\(model.tokenizer.encode(request.renderedPrompt).count)")
    }

    func testBadLibrariesAreRefusedWithReasonsAndTheOthersLoad() throws {
        let dir = try BuiltLibraries.folder(with: [
            "PersonaTestFixtureBadVersion", "PersonaTestFixtureSmallStruct", "PersonaTestFixtureNoSymbol",
            "PersonaTestFixtureCreateFails", "PersonaTestFixtureGood", "PersonaTestFixtureBadPack"
        ])
        // A file that is not a shared library at all.
        try Data("this is not an ELF file".utf8).write(to: dir.appendingPathComponent("libNotAPlugin.so"))
        let host = PluginHost(searchDirectories: [dir.path])
        host.discover()
        func reason(_ file: String) -> String? { host.refused.first { $0.path.hasSuffix("/" + file) }?.reason }
        XCTAssertEqual(reason("libPersonaTestFixtureBadVersion.so"), "ABI version 99, this host speaks version 1: rebuild the plugin against persona_abi.h")
        XCTAssertEqual(
            reason("libPersonaTestFixtureSmallStruct.so"),
            "descriptor struct_size 16 is smaller than the \(PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE) bytes of ABI version 1")
        XCTAssertEqual(reason("libPersonaTestFixtureNoSymbol.so"), "not a Persona plugin: no persona_plugin_entry symbol")
        XCTAssertTrue(reason("libNotAPlugin.so")?.hasPrefix("not a loadable shared library: ") ?? false, "\(host.refused)")
        XCTAssertEqual(host.refused.count, 4, "\(host.refused)")
        // The good ones loaded anyway.
        XCTAssertEqual(Set(host.plugins.map(\.name)), ["c-judge", "c-hook", "c-pack", "c-create-fails", "c-bad-pack"])

        // create returning an error: a clear message, nothing to destroy.
        assertThrows(PluginHostError.createFailed(name: "c-create-fails", code: 2, message: "configuration lacks the required key \"endpoint\"")) {
            try host.makeAutorater(name: "c-create-fails")
        }
        // A pack library with 4 pairs and overlapping questions: every problem, and the good pack still loads.
        let (packs, refusedPacks) = host.discoverPacks()
        XCTAssertEqual(packs.map(\.name), ["c-pack"])
        XCTAssertEqual(refusedPacks.count, 1)
        let message = refusedPacks.first?.reason ?? ""
        XCTAssertTrue(message.contains("instructions: 4 pairs, expected 5"), message)
        XCTAssertTrue(message.contains("questions.extraction[0] is also questions.evaluation[0]: the sets must not overlap"), message)
        // A refused library's plugins are unknown (nothing of it was read beyond the check); the error points at the refusals.
        assertThrows(PluginHostError.notFound(name: "c-bad-version", kind: "autorater", available: ["c-create-fails", "c-judge"], refusedLibraries: 4)) {
            try host.makeAutorater(name: "c-bad-version")
        }
        // Wrong kind.
        assertThrows(PluginHostError.wrongKind(name: "c-hook", expected: "autorater", found: "hook")) { try host.makeAutorater(name: "c-hook") }
    }

    /// A plugin built against version 1, whose descriptor and hook table end exactly at an unreadable
    /// page, loads and runs; read with a header that has one field appended (the structs below, as
    /// the next version will look to this host), the host reads only the declared bytes and sees the
    /// new field as absent. A plugin declaring more than this host knows is accepted too.
    func testVersion1PluginLoadsAgainstAHeaderWithAnAppendedField() throws {
        XCTAssertEqual(
            [PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE, PERSONA_AUTORATER_FUNCTIONS_V1_SIZE, PERSONA_HOOK_FUNCTIONS_V1_SIZE, PERSONA_TRAIT_PACK_FUNCTIONS_V1_SIZE],
            [64, 24, 24, 40])
        XCTAssertEqual(PERSONA_HOST_SERVICES_V1_SIZE, 104)
        let dir = try BuiltLibraries.folder(with: ["PersonaTestFixtureV1Size"])
        let host = PluginHost(searchDirectories: [dir.path])
        host.discover()
        XCTAssertEqual(host.refused, [])
        XCTAssertEqual(Set(host.plugins.map(\.name)), ["c-v1-hook", "c-newer-hook"])
        XCTAssertEqual(try host.makeHook(name: "c-v1-hook").layers, [3])
        XCTAssertEqual(try host.makeHook(name: "c-newer-hook").layers, [3])

        struct DescriptorWithAppendedField { var v1: persona_plugin_descriptor; var appended: UInt64 }
        struct HookTableWithAppendedField { var v1: persona_hook_functions; var appended: UInt64 }
        let record = try XCTUnwrap(host.plugins.first { $0.name == "c-v1-hook" })
        XCTAssertEqual(record.descriptor.struct_size, PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE)
        let descriptor = ABIStruct.read(
            UnsafeRawPointer(record.descriptorPointer), declaredSize: record.descriptor.struct_size,
            as: DescriptorWithAppendedField.self)
        XCTAssertEqual(descriptor.appended, 0)
        XCTAssertEqual(descriptor.v1.name.map { String(cString: $0) }, "c-v1-hook")
        let table = ABIStruct.read(record.functions, declaredSize: record.functionsSize, as: HookTableWithAppendedField.self)
        XCTAssertEqual(table.appended, 0)
        XCTAssertNotNil(table.v1.process)
        // The newer plugin's extra bytes (0xAB…) are not read into what this host knows.
        let newer = try XCTUnwrap(host.plugins.first { $0.name == "c-newer-hook" })
        XCTAssertEqual(newer.descriptor.struct_size, PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE + 8)
    }

    func testTwoPluginsWithOneNameConflictUnlessChosenByPath() throws {
        let a = try BuiltLibraries.folder(with: ["PersonaTestFixtureGood"])
        let b = try BuiltLibraries.folder(with: ["PersonaTestFixtureGood"])
        let host = PluginHost(searchDirectories: [a.path, b.path])
        host.discover()
        let pathA = a.appendingPathComponent("libPersonaTestFixtureGood.so").path
        let pathB = b.appendingPathComponent("libPersonaTestFixtureGood.so").path
        assertThrows(PluginHostError.conflict(name: "c-judge", paths: [pathA, pathB])) { try host.makeAutorater(name: "c-judge") }
        let chosen = try host.plugin("c-judge@\(pathB)", kind: .autorater)
        XCTAssertEqual(chosen.path, pathB)
        XCTAssertNoThrow(try host.makeAutorater(name: "c-judge@\(pathA)"))
    }

    func testDefaultSearchDirectories() {
        let dirs = PluginHost.defaultSearchDirectories(environment: ["PERSONA_PLUGIN_PATH": "/a:/b::/a", "HOME": "/home/u"])
        XCTAssertEqual(Array(dirs.dropFirst()), ["/a", "/b", "/home/u/.local/share/persona/plugins"])
        XCTAssertEqual(dirs.first, PluginHost.executableDirectory())
        XCTAssertEqual(PluginHost.defaultSearchDirectories(environment: ["XDG_DATA_HOME": "/x"]).last, "/x/persona/plugins")
    }

    func testHostServicesLogProbabilitiesMatchAFullForwardPass() throws {
        let model = try LoadedModels.exactLanguageModel("smollm2-135m")
        let scorer = NextTokenScorer(transformer: model.transformer)
        let prompt = try model.chatPrompt(user: "Rate this from 0 to 100.")
        let batch = [prompt, prompt + [28], prompt + [28, 29], prompt + [30]]
        let rows = try scorer.logProbabilities(batch)
        let computedAfterPrompt = scorer.tokensComputed
        XCTAssertEqual(computedAfterPrompt, prompt.count * 4 + 1 + 2 + 1, "the first call has nothing cached")
        // A second call extends the cached prompts: only the new tokens are computed.
        _ = try scorer.logProbabilities([prompt + [28, 29, 31]])
        XCTAssertEqual(scorer.tokensComputed - computedAfterPrompt, 1)
        try checkAgainstFullPasses(model, batch, rows)
    }

    /// A judge's pattern: a trait prompt and its digit probes (one level of 10, then one of 40,
    /// more than the probe cache holds), then the coherence prompt and its probes, then the next
    /// item's trait prompt. The next item reuses the shared part of the trait prompt, and every
    /// probe costs one token (its parent is still cached when the next level comes).
    func testJudgePatternKeepsPromptsAndProbeParents() throws {
        let model = try LoadedModels.exactLanguageModel("smollm2-135m")
        let scorer = NextTokenScorer(transformer: model.transformer)
        let digits = (0..<10).compactMap { model.tokenizer.encode(String($0)).last }
        XCTAssertEqual(digits.count, 10)
        func judge(_ prompt: [Int]) throws -> Int {
            let before = scorer.tokensComputed
            _ = try scorer.logProbabilities([prompt])
            let promptCost = scorer.tokensComputed - before
            let level1 = digits.map { prompt + [$0] }
            _ = try scorer.logProbabilities(level1)
            XCTAssertEqual(scorer.tokensComputed - before - promptCost, 10, "level 1: one token per probe")
            let level2 = digits.prefix(4).flatMap { d in digits.map { prompt + [d, $0] } }
            _ = try scorer.logProbabilities(level2)
            XCTAssertEqual(scorer.tokensComputed - before - promptCost, 50, "level 2: one token per probe")
            _ = try scorer.logProbabilities([prompt + [digits[1], digits[0], digits[0]]])
            XCTAssertLessThanOrEqual(scorer.tokensComputed - before - promptCost, 52, "level 3 extends a cached probe")
            return promptCost
        }
        let header = try model.chatPrompt(user: "Rate how evil the following answer is, from 0 to 100. The question and the answer follow.")
        let traitA = header + model.tokenizer.encode(" Question: how do I greet a neighbour? Answer: with a smile. Rating:")
        let coherence = try model.chatPrompt(user: "Is this answer coherent? Rate it from 0 to 100: with a smile.")
        let traitB = header + model.tokenizer.encode(" Question: what is a good breakfast? Answer: porridge. Rating:")
        XCTAssertEqual(try judge(traitA), traitA.count)
        _ = try judge(coherence)
        let sharedLength = zip(traitA, traitB).prefix { $0 == $1 }.count
        XCTAssertGreaterThan(sharedLength, header.count - 8)
        XCTAssertEqual(try judge(traitB), traitB.count - sharedLength, "the next item computes only what differs from the last trait prompt")
        let rows = try scorer.logProbabilities([traitB + [digits[3], digits[7]], coherence + [digits[9]]])
        try checkAgainstFullPasses(model, [traitB + [digits[3], digits[7]], coherence + [digits[9]]], rows)
    }

    /// Trees of continuations of two prompts in one pass equal the same sequences extended one
    /// token at a time through copied caches, bit for bit; the beginning the two prompts share is
    /// computed once; the prompts are kept for later calls; a node whose parent is not an earlier
    /// node is refused.
    func testTreeLogProbabilitiesEqualOneTokenExtensionsBitForBit() throws {
        let model = try LoadedModels.exactLanguageModel("smollm2-135m")
        let digits = (0..<10).compactMap { model.tokenizer.encode(String($0)).last }
        let header = try model.chatPrompt(user: "Rate how evil the following answer is, from 0 to 100.")
        let promptA = header + model.tokenizer.encode(" Answer: with a smile. Rating:")
        let promptB = try model.chatPrompt(user: "Is this answer coherent? Rate it: porridge.")
        typealias Node = NextTokenScorer.TreeNode
        // "3", "7", "3 0", "3 0 0" (with "3 0" only an ancestor), "7 1".
        let nodes = [
            Node(token: digits[3], parent: nil), Node(token: digits[7], parent: nil),
            Node(token: digits[0], parent: 0, wantsLogProbabilities: false), Node(token: digits[0], parent: 2),
            Node(token: digits[1], parent: 1)
        ]
        let paths: [[Int]?] = [[digits[3]], [digits[7]], nil, [digits[3], digits[0], digits[0]], [digits[7], digits[1]]]
        let tree = NextTokenScorer(transformer: model.transformer)
        let results = try tree.treeLogProbabilities([.init(prompt: promptA, nodes: nodes), .init(prompt: promptB, nodes: Array(nodes.prefix(2)))])
        let shared = zip(promptA, promptB).prefix { $0 == $1 }.count
        XCTAssertGreaterThan(shared, 8, "both prompts begin with the chat template's system turn")
        XCTAssertEqual(tree.tokensComputed, promptA.count + promptB.count - shared + nodes.count + 2)
        // The reference: the shared beginning, the prompt, then each path one token at a time
        // (every step extends a cached parent).
        let plain = NextTokenScorer(transformer: model.transformer, cacheLimit: 64)
        _ = try plain.logProbabilities([Array(promptA.prefix(shared))])
        func maxDifference(_ a: [Float]?, _ b: [Float]) -> Float {
            guard let a, a.count == b.count else { return .infinity }
            return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
        }
        for (prompt, result, count) in [(promptA, results[0], nodes.count), (promptB, results[1], 2)] {
            XCTAssertEqual(maxDifference(result.prompt, try plain.logProbabilities([prompt])[0]), 0, "prompt row")
            for n in 0..<count {
                guard let path = paths[n] else { XCTAssertNil(result.nodes[n]); continue }
                for k in 1..<path.count { _ = try plain.logProbabilities([prompt + path.prefix(k)]) }
                let expected = try plain.logProbabilities([prompt + path])[0]
                XCTAssertEqual(maxDifference(result.nodes[n], expected), 0, "node \(n) equals its path extended one token at a time")
            }
        }
        // The prompts were kept: asking again computes only the nodes.
        let before = tree.tokensComputed
        _ = try tree.treeLogProbabilities([.init(prompt: promptA, nodes: Array(nodes.prefix(1)))])
        XCTAssertEqual(tree.tokensComputed - before, 1)
        XCTAssertThrowsError(try tree.treeLogProbabilities([.init(prompt: promptA, nodes: [Node(token: digits[1], parent: 0)])])) { error in
            XCTAssertTrue("\(error)".contains("parent"), "\(error)")
        }
    }

    /// A judge's second pass (its deeper probes) over as many prompts as the prompt cache holds,
    /// plus the beginning they share, recomputes none of them: the prompts and the shared
    /// beginning of one call are all kept, whatever `promptCacheLimit` says.
    func testATreeCallKeepsAllItsPromptsForTheNextPass() throws {
        let model = try LoadedModels.exactLanguageModel("smollm2-135m")
        let digits = (0..<10).compactMap { model.tokenizer.encode(String($0)).last }
        let header = try model.chatPrompt(user: "Rate how evil the following answer is, from 0 to 100.")
        let answers = [" Be kind.", " Sabotage them.", " Talk it over calmly.", " Make them suffer for it."]
        let prompts = answers.map { header + model.tokenizer.encode($0 + " Rating:") }
        typealias Node = NextTokenScorer.TreeNode
        let scorer = NextTokenScorer(transformer: model.transformer)
        XCTAssertEqual(scorer.promptCacheLimit, prompts.count, "the case: the call's prompts alone fill the prompt cache")
        _ = try scorer.treeLogProbabilities(prompts.map { .init(prompt: $0, nodes: [Node(token: digits[1], parent: nil)]) })
        let before = scorer.tokensComputed
        let deeper = [Node(token: digits[1], parent: nil, wantsLogProbabilities: false), Node(token: digits[0], parent: 0)]
        _ = try scorer.treeLogProbabilities(prompts.map { .init(prompt: $0, nodes: deeper) })
        XCTAssertEqual(scorer.tokensComputed - before, prompts.count * deeper.count, "the second pass computes only its nodes")
    }

    func checkAgainstFullPasses(_ model: LanguageModel, _ batch: [[Int]], _ rows: [[Float]]) throws {
        for (sequence, row) in zip(batch, rows) {
            let direct = LogProbabilities.logSoftmax(try model.transformer.forward([SequenceInput(tokens: sequence, cache: model.transformer.makeCache())])[0])
            var worst: Float = 0
            for i in direct.indices { worst = max(worst, abs(direct[i] - row[i])) }
            XCTAssertLessThan(worst, 1e-4, "max |Δ log p| = \(worst)")
            let total = direct.reduce(0.0) { $0 + exp(Double($1)) }
            XCTAssertEqual(total, 1, accuracy: 1e-4)
        }
    }
}
