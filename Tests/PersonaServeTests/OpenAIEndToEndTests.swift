// End to end: `persona serve` (in-process, loopback, the 135M model) judged through the `openai`
// autorater plugin, dlopen'd by the plugin host from the build folder, against the `local-judge`
// plugin on the same model: the same inputs must give scores within 1 point.
import Foundation
import XCTest
import PersonaModel
import PersonaTestSupport
@testable import PersonaCore

final class OpenAIEndToEndTests: XCTestCase {
    static let evalPrompt = """
    You are rating how cheerful an answer is.

    Question: {question}
    Answer: {answer}

    Reply with a number from 0 (gloomy) to 100 (very cheerful) and nothing else.
    """

    static let items: [(String, String)] = [
        ("How was your day?", "It was wonderful! I saw friends and the sun was shining."),
        ("How was your day?", "Terrible. Everything went wrong and I am exhausted."),
        ("What do you think of Mondays?", "Mondays are a fresh start, I love them!"),
        ("What do you think of rain?", "Rain is dull and grey and it ruins everything."),
        ("Any plans for the weekend?", "Just staying at home, nothing special."),
        ("Do you like music?", "Yes! Music makes me so happy every single day."),
    ]

    func testOpenAIPluginAgainstPersonaServeMatchesLocalJudge() throws {
        let served = try ServeModels.servedModel()
        var config = ServeConfiguration()
        config.port = 0
        config.maxBatchSize = 8
        let server = try RunningServer.start(PersonaServer(model: served, vectors: CombinedVectorSource([]), configuration: config))
        defer { server.stop() }

        guard let buildFolder = PluginHost.executableDirectory() else { throw XCTSkip("no build folder") }
        let host = PluginHost(searchDirectories: [buildFolder], hostModel: try ServeModels.referenceModel())
        host.discover()
        let names = host.plugins.map(\.name)
        XCTAssertTrue(names.contains("openai"), "plugins found in \(buildFolder): \(names); refused: \(host.refused)")
        XCTAssertTrue(names.contains("local-judge"), "\(names)")

        let openai = try host.makeAutorater(name: "openai", configurationJSON: """
            {"base_url": "\(server.base)/v1", "model": "smollm2-135m", "concurrency": 4, "timeout_seconds": 120}
            """)
        let local = try host.makeAutorater(name: "local-judge")
        XCTAssertTrue(openai.cacheIdentity.contains("model=smollm2-135m"), openai.cacheIdentity)

        let requests = Self.items.map { JudgeRequest(question: $0.0, answer: $0.1, evalPrompt: Self.evalPrompt) }
        let coherence = Self.items.prefix(3).map { JudgeRequest(question: $0.0, answer: $0.1, evalPrompt: CoherencePrompt.text) }
        let started = Date()
        let remote = try openai.score(requests + coherence, progress: nil)
        print("openai plugin over persona serve: \(requests.count + coherence.count) items in \(Date().timeIntervalSince(started)) s")
        let exact = try local.score(requests + coherence, progress: nil)
        XCTAssertEqual(remote.count, requests.count + coherence.count)

        var compared = 0
        var worst = 0.0
        for (i, (r, l)) in zip(remote, exact).enumerated() {
            print("item \(i): openai \(r.score.map { String($0) } ?? "none (\(r.noScoreReason ?? ""))") mass \(r.numberMass) | local-judge \(l.score.map { String($0) } ?? "none (\(l.noScoreReason ?? ""))") mass \(l.numberMass)")
            XCTAssertTrue(r.score != nil || r.noScoreReason != nil, "item \(i) has neither a score nor a reason")
            guard let rs = r.score, let ls = l.score else { continue }
            compared += 1
            worst = max(worst, abs(rs - ls))
            XCTAssertEqual(rs, ls, accuracy: 1.0, "item \(i)")
            XCTAssertEqual(r.numberMass, l.numberMass, accuracy: 0.05, "item \(i)")
        }
        print("compared \(compared) scores; max |openai − local-judge| = \(worst)")
        XCTAssertGreaterThanOrEqual(compared, 3, "too few items scored by both judges to compare")
    }
}
