// libFuzzer target for the chat-template engine (templates come from model files, untrusted): any
// byte string must parse and render or throw a TemplateError, never crash, trap or hang. Limits are
// the defaults except a smaller output and time budget, so that each input runs fast; libFuzzer's
// -timeout catches a render that outlives them. Build and run with `make fuzz`.
import Foundation
import PersonaModel

let conversation: [ChatMessage] = [
    ChatMessage(role: "system", content: "You are terse."),
    ChatMessage(role: "user", content: "Hi — «ünïcode»\n"),
    ChatMessage(role: "assistant", content: "Hello."),
    ChatMessage(role: "user", content: "Again?"),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJinja(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = start.map { UnsafeRawBufferPointer(start: $0, count: count) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
    let source = String(decoding: bytes, as: UTF8.self)
    guard var template = try? JinjaTemplate(source: source) else { return 0 }
    template.limits.maximumOutputBytes = 1 << 16
    template.limits.maximumSeconds = 0.2
    let context: [String: JinjaValue] = [
        "messages": .array(conversation.map { .dict([("role", .string($0.role)), ("content", .string($0.content))]) }),
        "add_generation_prompt": .bool(true), "bos_token": .string("<s>"), "eos_token": .string("</s>"),
        "tools": .array([.dict([("name", .string("f")), ("parameters", .dict([("x", .int(1))]))])]),
    ]
    _ = try? template.render(context)
    return 0
}
