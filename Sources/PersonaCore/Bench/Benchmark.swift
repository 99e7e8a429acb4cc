// `persona bench`: prefill tokens/s on a 256-token prompt (median of 3 passes), decode tokens/s at
// several batch sizes (128 new tokens per sequence, end tokens ignored so every sequence runs the
// full length) greedy, and — the pipeline's real workload — sampled at temperature 1 and sampled
// with a steering vector added at the middle layer, and peak memory. Meant for release builds.
import Foundation
import PersonaModel
import PersonaTensor
#if canImport(Glibc)
    import Glibc
#endif

public struct BenchmarkResult: Codable, Sendable {
    /// How decode picks and shapes tokens.
    public enum DecodeMode: String, Codable, Sendable, CaseIterable {
        /// argmax
        case greedy
        /// temperature 1, seeded per sequence (the pipeline's generation)
        case sampled
        /// temperature 1 with a steering vector (seeded, norm 1) × 4 at the middle layer, every step
        case steered
    }

    public struct Decode: Codable, Sendable {
        public var mode: DecodeMode = .greedy
        public let batchSize: Int
        public let newTokens: Int
        public let seconds: Double
        /// Generated tokens per second, all sequences together.
        public let tokensPerSecond: Double
        public let perSequenceTokensPerSecond: Double
        /// CPU time (user + system) the process used while decoding.
        public let cpuSeconds: Double?
        /// Tokens per second had the process's CPU time been spread over `threads` cores of its
        /// own: the rate on an otherwise idle machine (spin-waits count as work, so a lower bound
        /// in that respect). Shared machines make wall-clock rates vary; this varies much less.
        public let cpuTimeTokensPerSecond: Double?
    }
    public let model: String
    public let threads: Int
    public let prefillTokens: Int
    public let prefillSeconds: Double
    public let prefillTokensPerSecond: Double
    public let decode: [Decode]
    public let loadSeconds: Double
    public let peakMemoryBytes: Int
    /// The 1-minute load average when the benchmark started (other processes on the machine).
    public let loadAverage: Double?
    /// OpenBLAS's kernel family (prefill speed depends on it), e.g. "Cooperlake".
    public var blasCore: String? = nil
    /// Whether persona's start-up check chose it (OpenBLAS did not know the CPU).
    public var blasCoreChosenAtStartup: Bool? = nil
    /// The CPU model (/proc/cpuinfo "model name").
    public var cpuModel: String? = nil
    /// The quantized-product kernels decode ran with ("avx512", "avx2", "neon" or "plain").
    public var kernels: String? = nil
    /// The arithmetic of the linear layers ("exact" or "fast").
    public var arithmetic: String? = nil
}

public enum Benchmark {
    /// Peak resident memory of this process so far.
    public static func peakMemoryBytes() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    /// CPU time (user + system) used by this process so far.
    public static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// The CPU's model name (/proc/cpuinfo), nil where unavailable.
    public static func cpuModel() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    /// The 1-minute load average (/proc/loadavg), nil where unavailable.
    public static func loadAverage() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }

    /// Timed prefill passes (the median is reported).
    public static let prefillRepeats = 3

    public static func run(
        model: LanguageModel, loadSeconds: Double, promptTokens: Int = 256, newTokens: Int = 128,
        batchSizes: [Int] = [1, 8, 32], workloadBatchSizes: [Int] = [16, 32],
        progress: (String) -> Void = { _ in }
    ) throws -> BenchmarkResult {
        // A deterministic prompt of exactly `promptTokens` tokens.
        let loadAverage = loadAverage()
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let text = String(repeating: "The persona laboratory measures how quickly a model reads and writes text. ", count: 64)
        let prompt = Array(model.tokenizer.encode(text).prefix(promptTokens))
        let transformer = model.transformer
        // Warm-up pass (page in the weights).
        _ = try transformer.forward([SequenceInput(tokens: Array(prompt.prefix(16)), cache: transformer.makeCache())])
        progress("prefill \(prompt.count) tokens (\(prefillRepeats) passes)")
        // The median of a few passes: one pass is about a second, and a single sample swings
        // with the first touch of scratch memory and with other processes.
        var prefillTimes: [Double] = []
        for _ in 0..<prefillRepeats {
            let start = Date()
            _ = try transformer.forward([SequenceInput(tokens: prompt, cache: transformer.makeCache(capacity: prompt.count + 1))])
            prefillTimes.append(Date().timeIntervalSince(start))
        }
        let prefillSeconds = prefillTimes.sorted()[prefillRepeats / 2]

        var decodes: [BenchmarkResult.Decode] = []
        // Greedy at every size, sampled and steered at the workload sizes (beside greedy there).
        var runs: [(mode: BenchmarkResult.DecodeMode, batch: Int)] = batchSizes.map { (.greedy, $0) }
        for batch in workloadBatchSizes {
            if !batchSizes.contains(batch) { runs.append((.greedy, batch)) }
            runs.append((.sampled, batch))
            runs.append((.steered, batch))
        }
        // A fixed steering direction: seeded values, unit norm.
        var random = SeededGenerator(seed: 21)
        var direction = (0..<model.config.hiddenSize).map { _ in Float(random.nextUnit() - 0.5) }
        let norm = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
        direction = direction.map { $0 / max(norm, 1e-12) }
        let steering = try SteeringHook(
            [SteeringSpec(vector: direction, layer: model.config.layerCount / 2, coefficient: 4, positions: .all)],
            config: model.config)
        for (mode, batch) in runs {
            progress("decode \(mode.rawValue) batch \(batch) × \(newTokens) tokens")
            let generator = Generator(model: transformer, maxBatchSize: batch)
            // Short distinct prompts; prefill them first so that only decoding is timed.
            let prompts = (0..<batch).map { i in model.tokenizer.encode("Sequence \(i): tell me a long story about the sea.") }
            let caches = try prompts.map { p -> KVCache in
                let c = transformer.makeCache(capacity: p.count + newTokens + 1)
                _ = try transformer.forward([SequenceInput(tokens: Array(p.dropLast()), cache: c)], logits: .none)
                return c
            }
            let requests = zip(prompts, caches).enumerated().map { i, pc in
                GenerationRequest(
                    promptTokens: pc.0, maxNewTokens: newTokens,
                    sampling: mode == .greedy ? .greedy : SamplingParameters(temperature: 1, seed: UInt64(i)), prefix: pc.1)
            }
            let t0 = Date(), cpu0 = cpuSeconds()
            let results =
                try mode == .steered
                ? transformer.withHooks([steering]) { try generator.generate(requests) }
                : generator.generate(requests)
            let seconds = Date().timeIntervalSince(t0), cpu = cpuSeconds() - cpu0
            let produced = results.map(\.tokens.count).reduce(0, +)
            decodes.append(
                .init(
                    mode: mode, batchSize: batch, newTokens: newTokens, seconds: seconds, tokensPerSecond: Double(produced) / seconds,
                    perSequenceTokensPerSecond: Double(produced) / seconds / Double(batch),
                    cpuSeconds: cpu, cpuTimeTokensPerSecond: cpu > 0 ? Double(produced) / (cpu / Double(threads)) : nil))
        }
        var result = BenchmarkResult(
            model: model.displayName, threads: threads,
            prefillTokens: prompt.count, prefillSeconds: prefillSeconds,
            prefillTokensPerSecond: Double(prompt.count) / prefillSeconds, decode: decodes,
            loadSeconds: loadSeconds, peakMemoryBytes: peakMemoryBytes(), loadAverage: loadAverage)
        result.blasCore = BLAS.coreName
        result.blasCoreChosenAtStartup = BLAS.coreChosenAtStartup
        result.cpuModel = cpuModel()
        result.kernels = transformer.arithmetic == .fast ? "integer-\(IntegerKernelLevel.best)" : FusedSupport.level.rawValue
        result.arithmetic = transformer.arithmetic.rawValue
        return result
    }
}
