// The `openai` autorater plugin: a dynamic library exporting `persona_plugin_entry` (persona_abi.h)
// around OpenAIJudge (scoring over any OpenAI-compatible /chat/completions endpoint; its HTTP client
// is the host tree's PersonaHTTP, linked into this library).
//
// Configuration (JSON, `--judge-config`): base_url, model, api_key_env, timeout_seconds,
// max_retries, concurrency, initial_backoff_seconds, max_backoff_seconds, max_retry_after_seconds,
// expand_digits (true | false | "auto"), expand_min_probability. See OpenAIJudgeConfiguration.
import Foundation
import OpenAIJudgeCore
import PersonaABI
import PersonaPluginKit

final class OpenAIAutorater: AutoraterPlugin {
    let judge: OpenAIJudge
    let host: HostServices

    init(host: HostServices, configurationJSON: String) throws {
        self.host = host
        do {
            judge = try OpenAIJudge(configuration: OpenAIJudgeConfiguration.parse(configurationJSON))
        } catch let e as OpenAIJudgeError {
            throw PluginError(PERSONA_ERROR_CONFIGURATION, e.description)
        }
    }

    var identity: String { judge.cacheIdentity }

    func score(_ items: [JudgeItem], progress: (Int) -> Void) throws -> [JudgeVerdict] {
        let verdicts: [OpenAIVerdict]
        do {
            verdicts = try judge.score(items.map(\.renderedPrompt), progress: progress)
        } catch let e as OpenAIJudgeError {
            switch e {
            case .configuration, .missingAPIKey: throw PluginError(PERSONA_ERROR_CONFIGURATION, e.description)
            case .unauthorized, .notFound: throw PluginError(PERSONA_ERROR_REMOTE, e.description)
            }
        }
        let failed = verdicts.filter { $0.score == nil }.count
        if failed > 0 { host.log(.info, "openai: \(failed) of \(items.count) items have no score") }
        return verdicts.map { v in
            JudgeVerdict(
                score: v.score, noScoreReason: v.noScoreReason, numberMass: v.numberMass,
                alternatives: v.alternatives.map { (text: $0.text, probability: $0.probability) })
        }
    }
}

let exports = PluginExports([
    .autorater(
        name: "openai", version: OpenAIJudge.version,
        description: "Judges with any OpenAI-compatible /chat/completions server (top-20 logprobs of one token; digit expansion for split numbers)"
    ) { host, config in
        try OpenAIAutorater(host: host, configurationJSON: config)
    }
])

@_cdecl("persona_plugin_entry")
public func personaPluginEntry(_ hostVersion: UInt32, _ index: UInt32) -> UnsafePointer<persona_plugin_descriptor>? {
    exports.descriptor(at: index, hostVersion: hostVersion)
}
