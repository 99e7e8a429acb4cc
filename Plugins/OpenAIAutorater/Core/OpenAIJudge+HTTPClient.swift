// The `openai` autorater with its real transport: PersonaHTTP's HTTPClient (URLSession over
// libcurl), at most `concurrency` requests in flight and the client's reply size limit. Kept apart
// from OpenAIJudge.swift so that the judge-reply fuzzer builds the scoring without a network stack.
import Foundation
import PersonaHTTP

extension OpenAIJudge {
    /// A judge that talks HTTP to the configuration's server.
    public convenience init(configuration: OpenAIJudgeConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        try self.init(
            configuration: configuration, environment: environment,
            transport: HTTPClient(limits: .init(maxRequestsInFlight: configuration.concurrency)))
    }
}
