// libFuzzer target for `persona serve`'s request decoding (request bodies come from any client):
// any byte string must decode into a validated request or throw an APIError (a 400 naming the
// parameter), never crash or trap. Build and run with `make fuzz`.
import Foundation
import PersonaServer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzServerRequest(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    do {
        let request = try ChatCompletionRequest.parse(data, limits: .init(maxTokens: 256))
        _ = request.messages.count
    } catch let error as APIError {
        _ = error.description
    } catch {
        // Every failure must be an APIError (the server turns it into a 400).
        fatalError("not an APIError: \(error)")
    }
    return 0
}
