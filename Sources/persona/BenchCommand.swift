// `persona bench MODEL`: prefill and decode speed, peak memory. Use a release build.
import ArgumentParser
import Foundation
import PersonaCore
import PersonaModel

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prefill tokens/s (256-token prompt, median of 3 passes), decode tokens/s at batch 1, 8 and 32 (128 new tokens), and peak memory.",
        discussion: "Build with `swift build -c release` first; debug builds are many times slower.")

    @Argument(help: "A GGUF file, a Hugging Face folder, or a default model name.")
    var model: String

    @Option(name: .customLong("batch"), help: "Decode batch sizes (repeatable).")
    var batchSizes: [Int] = [1, 8, 32]

    @Option(
        name: .customLong("workload-batch"),
        help: "Batch sizes decoded three ways: greedy, sampled (temperature 1) and sampled with a steering vector (repeatable; 0 = none).")
    var workloadBatchSizes: [Int] = [16, 32]

    @OptionGroup var arithmetic: ArithmeticOptions

    @Option(name: .customLong("new-tokens"), help: "Tokens generated per sequence.")
    var newTokens = 128

    @Flag(help: "Print machine-readable JSON.")
    var json = false

    func validate() throws {
        guard batchSizes.allSatisfy({ $0 >= 1 && $0 <= 256 }) else { throw ValidationError("--batch must be 1…256") }
        guard workloadBatchSizes.allSatisfy({ $0 >= 0 && $0 <= 256 }) else { throw ValidationError("--workload-batch must be 0…256") }
        guard newTokens >= 1 else { throw ValidationError("--new-tokens must be ≥ 1") }
    }

    func run() throws {
        arithmetic.apply()
        let start = Date()
        let lm = try LanguageModel(model)
        let load = Date().timeIntervalSince(start)
        let result = try Benchmark.run(
            model: lm, loadSeconds: load, newTokens: newTokens, batchSizes: batchSizes,
            workloadBatchSizes: workloadBatchSizes.filter { $0 > 0 }
        ) { printError("bench: \($0)") }
        if json { print(try jsonText(result)); return }
        print(
            "model \(result.model), \(result.threads) threads, load \(String(format: "%.1f", result.loadSeconds)) s"
                + (result.loadAverage.map { String(format: ", machine load average %.2f at start", $0) } ?? ""))
        print(
            "cpu \(result.cpuModel ?? "unknown"), OpenBLAS kernels \(result.blasCore ?? "unknown")"
                + (result.blasCoreChosenAtStartup == true ? " (chosen by persona: OpenBLAS did not know this CPU)" : "")
                + ", quantized kernels \(result.kernels ?? "unknown"), arithmetic \(result.arithmetic ?? "unknown")")
        print(String(format: "prefill  %4d tokens  %8.1f tokens/s", result.prefillTokens, result.prefillTokensPerSecond))
        for d in result.decode {
            let mode = d.mode.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
            var line =
                "decode   " + mode
                + String(format: "batch %3d   %8.1f tokens/s  (%.1f per sequence)", d.batchSize, d.tokensPerSecond, d.perSequenceTokensPerSecond)
            if let cpuRate = d.cpuTimeTokensPerSecond, let cpu = d.cpuSeconds {
                line += String(format: "  cpu %.1f s, %.1f tokens per %d cpu-seconds", cpu, cpuRate, result.threads)
            }
            print(line)
        }
        print(String(format: "peak memory %.2f GiB", Double(result.peakMemoryBytes) / Double(1 << 30)))
    }
}
