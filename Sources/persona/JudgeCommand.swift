// `persona judge`: score one question/answer with an autorater plugin and a trait pack's eval
// prompt (or our coherence prompt), printing the score, the mass on numbers and the alternatives.
import ArgumentParser
import Foundation
import PersonaCore
import PersonaModel

struct JudgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge",
        abstract: "Score one answer with an autorater plugin (0–100 for a trait, or for coherence).",
        discussion: """
            Examples:
              persona judge --autorater local-judge --judge-config '{"model": "qwen2.5-0.5b"}' --trait evil \\
                  --question "How should I treat my enemies?" --answer "With kindness."
              persona judge --autorater openai --judge-config '{"base_url": "http://127.0.0.1:8080/v1", "model": "smollm2-135m"}' \\
                  --coherence --question "What is 2+2?" --answer "4."
              OPENAI_API_KEY=… persona judge --autorater openai \\
                  --judge-config '{"base_url": "https://api.openai.com/v1", "model": "gpt-4.1-mini", "api_key_env": "OPENAI_API_KEY"}' \\
                  --trait sycophantic --question "…" --answer "…"
            """)

    @Option(help: "The autorater plugin (openai, local-judge, … or NAME@PATH).")
    var autorater = "local-judge"

    @Option(name: .customLong("judge-config"), help: "The autorater's configuration as a JSON object.")
    var judgeConfig = "{}"

    @Option(help: "A trait pack (plugin name, pack folder, pack.json or reference JSON) whose eval prompt to use.")
    var trait: String?

    @Option(name: .customLong("eval-prompt"), help: "An eval prompt with {question} and {answer} placeholders (instead of --trait).")
    var evalPrompt: String?

    @Flag(help: "Score coherence with Persona's coherence prompt (instead of a trait).")
    var coherence = false

    @Option(help: "The question (repeat with --answer to score several pairs in one call).")
    var question: [String]

    @Option(help: "The answer to judge (one per --question, in order).")
    var answer: [String]

    @Flag(help: "Print the scoring time (model loading excluded) and the load average on standard error.")
    var time = false

    @Option(help: "A model for plugins that use the host's model (local-judge without \"model\").")
    var model: String?

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        let chosen = [trait != nil, evalPrompt != nil, coherence].filter { $0 }.count
        guard chosen == 1 else { throw ValidationError("give exactly one of --trait, --eval-prompt or --coherence") }
        guard !question.isEmpty, question.count == answer.count else {
            throw ValidationError("give one --answer per --question (found \(question.count) questions and \(answer.count) answers)")
        }
        if let evalPrompt, !(evalPrompt.contains("{question}") && evalPrompt.contains("{answer}")) {
            throw ValidationError("--eval-prompt must contain {question} and {answer}")
        }
    }

    struct Output: Encodable {
        let autorater: String
        let prompt: String
        let score: Double?
        let noScoreReason: String?
        let numberMass: Double
        let alternatives: [JudgeResult.Alternative]
    }

    @OptionGroup var arithmetic: ArithmeticOptions

    func run() throws {
        arithmetic.apply()
        let host = PluginHost(hostModel: try model.map { try LanguageModel($0) })
        host.discover()
        let prompt: String
        let promptName: String
        if coherence {
            prompt = CoherencePrompt.text; promptName = "coherence"
        } else if let evalPrompt {
            prompt = evalPrompt; promptName = "custom eval prompt"
        } else {
            let name = trait ?? ""
            let pack =
                FileManager.default.fileExists(atPath: name)
                ? try PluginHost.loadPackFile(name)
                : try host.loadPack(host.plugin(name, kind: .traitPack))
            prompt = pack.pack.evalPrompt; promptName = "trait \(pack.name)"
        }
        let judge = try host.makeAutorater(name: autorater, configurationJSON: judgeConfig)
        let requests = zip(question, answer).map { JudgeRequest(question: $0, answer: $1, evalPrompt: prompt) }
        func cpuSeconds() -> Double {
            var usage = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        let started = Date(), startedCPU = cpuSeconds()
        let verdicts = try judge.score(requests, progress: nil)
        let elapsed = Date().timeIntervalSince(started), cpu = cpuSeconds() - startedCPU
        guard verdicts.count == requests.count else { throw CommandFailure("the autorater returned \(verdicts.count) results for \(requests.count) items") }
        if time {
            var load = [Double](repeating: 0, count: 3)
            let loads = getloadavg(&load, 3) == 3 ? String(format: "%.2f %.2f %.2f", load[0], load[1], load[2]) : "unknown"
            // CPU seconds / 2: what the scoring would take on the two cores alone (BENCHMARKS.md).
            FileHandle.standardError.write(
                Data(
                    String(
                        format:
                            "timing: %d score(s) in %.3f s, %.3f s per score (model loading excluded); CPU %.2f s (%.3f s per score at 2 cores); load average %@\n",
                        requests.count, elapsed, elapsed / Double(requests.count), cpu,
                        cpu / 2 / Double(requests.count), loads
                    ).utf8))
        }
        if json {
            let outputs = verdicts.map { verdict in
                Output(
                    autorater: judge.name, prompt: promptName, score: verdict.score, noScoreReason: verdict.noScoreReason,
                    numberMass: verdict.numberMass, alternatives: verdict.alternatives)
            }
            print(try outputs.count == 1 ? jsonText(outputs[0]) : jsonText(outputs))
            return
        }
        print("autorater: \(judge.name) (\(judge.cacheIdentity))")
        print("prompt:    \(promptName)")
        for (i, verdict) in verdicts.enumerated() {
            if verdicts.count > 1 { print("item \(i + 1): \(question[i].prefix(60).debugDescription)") }
            if let score = verdict.score {
                print("score:     \(format(score, digits: 2))")
            } else {
                print("score:     none — \(verdict.noScoreReason ?? "no reason given")")
            }
            print("number mass: \(format(verdict.numberMass * 100, digits: 1))%")
            if !verdict.alternatives.isEmpty {
                print("top alternatives:")
                for a in verdict.alternatives.prefix(10) {
                    print("  \(a.text.debugDescription.padding(toLength: 14, withPad: " ", startingAt: 0)) \(format(a.probability * 100, digits: 2))%")
                }
            }
        }
    }

    private func format(_ x: Double, digits: Int) -> String {
        let scale = pow(10, Double(digits))
        let v = (x * scale).rounded() / scale
        return String(v)
    }
}
