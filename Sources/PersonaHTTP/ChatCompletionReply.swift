// Reading the reply of an OpenAI-compatible `/chat/completions` request. Replies are outside data:
// anything unexpected is a reason, never a trap (Fuzz/JudgeReplyFuzz feeds this parser too).
import Foundation

/// The answer of a chat-completions reply (`choices[0].message.content` and `finish_reason`), or
/// why the reply has none.
public enum ChatCompletionReply {
    public static func parse(_ body: Data) -> Result<(content: String, finishReason: String?), PostFailure> {
        func bad(_ reason: String) -> Result<(content: String, finishReason: String?), PostFailure> { .failure(.gaveUp(reason: reason)) }
        guard let any = try? JSONSerialization.jsonObject(with: body) else { return bad("malformed reply: not JSON (\(body.count) bytes)") }
        guard let o = any as? [String: Any], let choices = o["choices"] as? [Any], let choice = choices.first as? [String: Any] else {
            return bad("malformed reply: no choices")
        }
        guard let message = choice["message"] as? [String: Any] else { return bad("malformed reply: choices[0] has no message") }
        let content: String
        if let c = message["content"] as? String {
            content = c
        } else if message["content"] == nil || message["content"] is NSNull {
            content = ""
        } else {
            return bad("malformed reply: choices[0].message.content is not a string")
        }
        return .success((content, choice["finish_reason"] as? String))
    }
}
