// `persona bench`: prefill tokens/s on a 256-token prompt, decode tokens/s at several batch sizes
// (128 new tokens per sequence, greedy, end tokens ignored so every sequence runs the full length),
// and peak memory. Meant for release builds.
import Foundation
import PersonaModel
#if canImport(Glibc)
import Glibc
#endif

public struct BenchmarkResult: Codable, Sendable {
    public struct Decode: Codable, Sendable {
        public let batchSize: Int
        public let newTokens: Int
        public let seconds: Double
        /// Generated tokens per second, all sequences together.
        public let tokensPerSecond: Double
        public let perSequenceTokensPerSecond: Double
    }
    public let model: String
    public let threads: Int
    public let prefillTokens: Int
    public let prefillSeconds: Double
    public let prefillTokensPerSecond: Double
    public let decode: [Decode]
    public let loadSeconds: Double
    public let peakMemoryBytes: Int
}

public enum Benchmark {
    /// Peak resident memory of this process so far.
    public static func peakMemoryBytes() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    public static func run(model: LanguageModel, loadSeconds: Double, promptTokens: Int = 256, newTokens: Int = 128,
                           batchSizes: [Int] = [1, 8, 32], progress: (String) -> Void = { _ in }) throws -> BenchmarkResult {
        // A deterministic prompt of exactly `promptTokens` tokens.
        let text = String(repeating: "The persona laboratory measures how quickly a model reads and writes text. ", count: 64)
        let prompt = Array(model.tokenizer.encode(text).prefix(promptTokens))
        let transformer = model.transformer
        // Warm-up pass (page in the weights).
        _ = try transformer.forward([SequenceInput(tokens: Array(prompt.prefix(16)), cache: transformer.makeCache())])
        progress("prefill \(prompt.count) tokens")
        let start = Date()
        _ = try transformer.forward([SequenceInput(tokens: prompt, cache: transformer.makeCache(capacity: prompt.count + 1))])
        let prefillSeconds = Date().timeIntervalSince(start)

        var decodes: [BenchmarkResult.Decode] = []
        for batch in batchSizes {
            progress("decode batch \(batch) × \(newTokens) tokens")
            let generator = Generator(model: transformer, maxBatchSize: batch)
            // Short distinct prompts; prefill them first so that only decoding is timed.
            let prompts = (0..<batch).map { i in model.tokenizer.encode("Sequence \(i): tell me a long story about the sea.") }
            let caches = try prompts.map { p -> KVCache in
                let c = transformer.makeCache(capacity: p.count + newTokens + 1)
                _ = try transformer.forward([SequenceInput(tokens: Array(p.dropLast()), cache: c)], logits: .none)
                return c
            }
            let requests = zip(prompts, caches).map { p, c in GenerationRequest(promptTokens: p, maxNewTokens: newTokens, prefix: c) }
            let t0 = Date()
            let results = try generator.generate(requests)
            let seconds = Date().timeIntervalSince(t0)
            let produced = results.compactMap { $0?.tokens.count }.reduce(0, +)
            decodes.append(.init(batchSize: batch, newTokens: newTokens, seconds: seconds, tokensPerSecond: Double(produced) / seconds,
                                 perSequenceTokensPerSecond: Double(produced) / seconds / Double(batch)))
        }
        return BenchmarkResult(model: model.displayName, threads: ProcessInfo.processInfo.activeProcessorCount,
                               prefillTokens: prompt.count, prefillSeconds: prefillSeconds,
                               prefillTokensPerSecond: Double(prompt.count) / prefillSeconds, decode: decodes,
                               loadSeconds: loadSeconds, peakMemoryBytes: peakMemoryBytes())
    }
}
