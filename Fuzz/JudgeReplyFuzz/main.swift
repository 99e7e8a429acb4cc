// libFuzzer target for judge replies (an OpenAI-compatible server's answer is outside data): the
// `openai` autorater scores one prompt against a transport that answers every request with the
// input (the first byte picks the HTTP status: 200, or an error status whose body is read for its
// message). Any reply must end in a verdict, "no score" with a reason, or a thrown error, never a
// crash or trap. The same bytes are also read as a chat-completions answer (remote generation,
// `ChatCompletionReply`). Built without a network stack: PersonaHTTP's files but HTTPClient.swift,
// the judge's core but OpenAIJudge+HTTPClient.swift. Build and run with `make fuzz`.
import Foundation
import OpenAIJudgeCore
import PersonaHTTP

struct FuzzTransport: HTTPTransport {
    let status: Int
    let body: Data
    func send(_ request: HTTPRequest, deadline: Double) async -> Result<HTTPReply, TransportFailure> {
        .success(HTTPReply(status: status, headers: ["content-type": "application/json"], body: body))
    }
}

let statuses = [200, 200, 200, 400, 404, 422]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJudgeReply(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    let status = statuses[Int(data.first ?? 0) % statuses.count]
    var configuration = OpenAIJudgeConfiguration(baseURL: "http://127.0.0.1:9/v1", model: "judge")
    configuration.expandDigits = .on
    guard let judge = try? OpenAIJudge(configuration: configuration, environment: [:],
                                       transport: FuzzTransport(status: status, body: data.dropFirst())) else { return 0 }
    _ = try? judge.score(["Score the answer 0–100."])
    // The same bytes as a generation reply (`--engine openai`).
    _ = ChatCompletionReply.parse(data.dropFirst())
    return 0
}
