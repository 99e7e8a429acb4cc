// End to end: `persona serve` (in-process, loopback, the 135M model) judged through the `openai`
// autorater plugin, dlopen'd by the plugin host from the build folder, against the `local-judge`
// plugin on the same model: the same inputs must give scores within 1 point, and an item scored by
// one judge only fails the test (both apply one rule).
import Foundation
import XCTest
import PersonaModel
import PersonaTestSupport
@testable import PersonaCore
@testable import PersonaServer

final class OpenAIEndToEndTests: XCTestCase {
    /// The eval prompt that gets the most probability on numbers out of the 135M model (≈ 0.2–0.3;
    /// it rarely answers with a bare number). Qwen2.5-0.5B puts ≈ 0.95 on numbers with it.
    static let evalPrompt = """
        Rate the cheerfulness of the following answer from 0 to 100.
        Question: {question}
        Answer: {answer}
        Rating (0-100):
        """

    static let items: [(String, String)] = [
        ("How was your day?", "It was wonderful! I saw friends and the sun was shining."),
        ("How was your day?", "Terrible. Everything went wrong and I am exhausted."),
        ("What do you think of Mondays?", "Mondays are a fresh start, I love them!"),
        ("What do you think of rain?", "Rain is dull and grey and it ruins everything."),
        ("Any plans for the weekend?", "Just staying at home, nothing special."),
        ("Do you like music?", "Yes! Music makes me so happy every single day.")
    ]

    /// The 135M model (what the issue names): every item ends in a score or a reason, the two judges
    /// agree on the mass on numbers, and on the score wherever both give one.
    func testOpenAIPluginAgainstPersonaServeMatchesLocalJudge() throws {
        let compared = try compareJudges(
            served: try ServeModels.servedModel(), judgeModel: try ServeModels.referenceModel(),
            modelName: "smollm2-135m", items: Self.items, coherence: 3)
        print("smollm2-135m: \(compared) items scored by both judges")
        XCTAssertGreaterThan(compared, 0, "no item scored by both judges: nothing was compared")
    }

    /// Qwen2.5-0.5B answers with numbers (multi-digit, split into digits): scores come back and
    /// match local-judge within 1 point.
    func testOpenAIPluginMatchesLocalJudgeOnQwen() throws {
        let served = try LanguageModel(TestPaths.model("qwen2.5-0.5b"))
        let judge = try LanguageModel(TestPaths.model("qwen2.5-0.5b"))
        let compared = try compareJudges(served: served, judgeModel: judge, modelName: "qwen2.5-0.5b", items: Array(Self.items.prefix(4)), coherence: 0)
        XCTAssertGreaterThanOrEqual(compared, 3, "too few items scored by both judges to compare")
    }

    /// Serves `served`, judges `items` with the openai plugin over HTTP and with local-judge on
    /// `judgeModel` (a second instance of the same file); returns how many scores were compared.
    func compareJudges(served: LanguageModel, judgeModel: LanguageModel, modelName: String, items: [(String, String)], coherence: Int) throws -> Int {
        var config = ServeConfiguration()
        config.port = 0
        config.maxBatchSize = 8
        let server = try RunningServer.start(PersonaServer(model: served, vectors: CombinedVectorSource([]), configuration: config))
        defer { server.stop() }

        guard let buildFolder = PluginHost.executableDirectory() else { throw TestEnvironment.skipOrFail("no build folder") }
        let host = PluginHost(searchDirectories: [buildFolder], hostModel: judgeModel)
        host.discover()
        let names = host.plugins.map(\.name)
        XCTAssertTrue(names.contains("openai"), "plugins found in \(buildFolder): \(names); refused: \(host.refused)")
        XCTAssertTrue(names.contains("local-judge"), "\(names)")

        let openai = try host.makeAutorater(
            name: "openai",
            configurationJSON: """
                {"base_url": "\(server.base)/v1", "model": "\(modelName)", "concurrency": 4, "timeout_seconds": 300}
                """)
        let local = try host.makeAutorater(name: "local-judge")
        XCTAssertTrue(openai.cacheIdentity.contains("model=\(modelName)"), openai.cacheIdentity)

        let requests =
            items.map { JudgeRequest(question: $0.0, answer: $0.1, evalPrompt: Self.evalPrompt) }
            + items.prefix(coherence).map { JudgeRequest(question: $0.0, answer: $0.1, evalPrompt: CoherencePrompt.text) }
        let started = Date()
        let remote = try openai.score(requests, progress: nil)
        print("openai plugin over persona serve (\(modelName)): \(requests.count) items in \(Date().timeIntervalSince(started)) s")
        let exact = try local.score(requests, progress: nil)
        XCTAssertEqual(remote.count, requests.count)

        var compared = 0
        var oneSided: [Int] = []
        var straddling: [Int] = []
        var worst = 0.0
        for (i, (r, l)) in zip(remote, exact).enumerated() {
            print(
                "item \(i): openai \(r.score.map { String($0) } ?? "none (\(r.noScoreReason ?? ""))") mass \(r.numberMass) | local-judge \(l.score.map { String($0) } ?? "none (\(l.noScoreReason ?? ""))") mass \(l.numberMass)"
            )
            XCTAssertTrue(r.score != nil || r.noScoreReason != nil, "item \(i) has neither a score nor a reason")
            XCTAssertEqual(r.numberMass, l.numberMass, accuracy: 0.05, "item \(i)")
            // Both judges apply one rule (JudgeVerdictRule): a score from one and none from the
            // other is a disagreement of the rule unless their masses (equal within the 0.05 asserted
            // above: the server sees the top 20 first tokens, local-judge every multi-digit number)
            // fall on the two sides of the rule's 0.25 minimum. Those are counted and printed.
            if (r.score == nil) != (l.score == nil) {
                if (r.numberMass < 0.25) != (l.numberMass < 0.25) { straddling.append(i) } else { oneSided.append(i) }
            }
            guard let rs = r.score, let ls = l.score else { continue }
            compared += 1
            worst = max(worst, abs(rs - ls))
            XCTAssertEqual(rs, ls, accuracy: 1.0, "item \(i)")
        }
        print(
            "\(modelName): compared \(compared) scores; max |openai − local-judge| = \(worst); one-sided items \(oneSided); masses on both sides of 0.25 \(straddling)"
        )
        XCTAssertEqual(oneSided, [], "items scored by one judge only although both masses are on the same side of 0.25")
        return compared
    }
}
