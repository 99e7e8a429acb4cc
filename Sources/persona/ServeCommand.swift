// `persona serve MODEL`: an OpenAI-compatible server with per-request steering.
import ArgumentParser
import Foundation
import PersonaCore
import PersonaServer
import PersonaModel

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model over an OpenAI-compatible HTTP API (/v1/models, /v1/chat/completions) with per-request steering and projection interventions.",
        discussion: """
            Requests may add "steering": [{"vector": NAME, "layer": L, "coeff": C, "positions": "response"}], where NAME
            is a vector file given with --vector NAME=FILE.safetensors, and "projections": [{"vector": NAME, "intervention":
            "ablate"}] (or "cap"/"floor" with "threshold": T; "layers": [L, …], default every block) to ablate or cap a
            direction for that request only (after its steering). Concurrent requests are decoded together in one batch.
            A request whose last message is from the assistant continues that message (vLLM's continue_final_message).

            Example:
              persona serve smollm2-135m --port 8080 --vector evil=runs/evil.safetensors
              curl localhost:8080/v1/chat/completions -d '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":32}'
            """)

    @Argument(help: "A GGUF file, a Hugging Face folder, or a default model name.")
    var model: String

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free port, printed at start).")
    var port = 8080

    @Option(name: .customLong("vector"), help: ArgumentHelp("A steering vector requests can name: NAME=FILE.safetensors (repeatable).", valueName: "name=file"))
    var vectors: [String] = []

    @Option(
        name: .customLong("served-model-name"),
        help: "The model id reported and required in requests' \"model\" (default: any model name is accepted; reported as the file name).")
    var servedModelName: String?

    @Option(name: .customLong("max-body-bytes"), help: "Largest request body accepted (413 beyond).")
    var maxBodyBytes = 1 << 20

    @Option(name: .customLong("max-tokens-limit"), help: "Largest max_tokens a request may ask for (400 beyond).")
    var maxTokensLimit = 4096

    @Option(name: .customLong("default-max-tokens"), help: "Tokens generated when a request gives no max_tokens.")
    var defaultMaxTokens = 512

    @Option(name: .customLong("max-batch"), help: "Requests decoded together.")
    var maxBatch = 16

    @Option(name: .customLong("max-queued"), help: "Requests that may wait for a batch slot (429 beyond).")
    var maxQueued = 64

    @Flag(help: "Do not log one line per request.")
    var quiet = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535 (got \(port))") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024 (got \(maxBodyBytes))") }
        guard maxTokensLimit >= 1 else { throw ValidationError("--max-tokens-limit must be ≥ 1 (got \(maxTokensLimit))") }
        guard defaultMaxTokens >= 1 else { throw ValidationError("--default-max-tokens must be ≥ 1 (got \(defaultMaxTokens))") }
        guard maxBatch >= 1 else { throw ValidationError("--max-batch must be ≥ 1 (got \(maxBatch))") }
        guard maxQueued >= 0 else { throw ValidationError("--max-queued must be ≥ 0 (got \(maxQueued))") }
        _ = try vectorFiles()
    }

    func vectorFiles() throws -> [String: String] {
        var files: [String: String] = [:]
        for entry in vectors {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex, entry.index(after: eq) != entry.endIndex else {
                throw ValidationError("--vector \(entry): expected NAME=FILE.safetensors")
            }
            let name = String(entry[..<eq])
            guard files[name] == nil else { throw ValidationError("--vector \(name) is given twice") }
            files[name] = String(entry[entry.index(after: eq)...])
        }
        return files
    }

    // The root command is synchronous: run the async server on a task and wait for it here.
    @OptionGroup var arithmetic: ArithmeticOptions

    func run() throws {
        let outcome = OutcomeBox()
        let semaphore = DispatchSemaphore(value: 0)
        Task {
            do { try await serve() } catch { outcome.error = error }
            semaphore.signal()
        }
        semaphore.wait()
        if let error = outcome.error { throw error }
    }

    private final class OutcomeBox: @unchecked Sendable { var error: Error? }

    func serve() async throws {
        arithmetic.apply()
        let lm = try LanguageModel(model)
        let source = try VectorFileSource(files: vectorFiles(), config: lm.config)
        var config = ServeConfiguration()
        config.host = host; config.port = port; config.modelName = servedModelName
        config.maxBodyBytes = maxBodyBytes; config.maxTokensLimit = maxTokensLimit; config.defaultMaxTokens = defaultMaxTokens
        config.maxBatchSize = maxBatch; config.maxQueued = maxQueued
        if !quiet { config.log = { line in printError(line) } }
        let server = PersonaServer(model: lm, vectors: source, configuration: config)
        let name = servedModelName ?? lm.displayName
        let host = self.host
        let vectorNames = source.vectorNames
        try await server.run(handleSignals: true) { port in
            printError(
                "persona serve: \(name) on http://\(host):\(port)/v1" + (vectorNames.isEmpty ? "" : " (vectors: \(vectorNames.joined(separator: ", ")))"))
        }
    }
}
