// libFuzzer target for tokenizer.json (Hugging Face model folders come from outside): any byte
// string must build a tokenizer or throw a TokenizerError, never crash or trap; a tokenizer that
// builds must encode and decode text without trapping. Build and run with `make fuzz`.
import Foundation
import PersonaModel

let sample = "Hello, wörld! 123 4567 <|im_start|>user\n\t  don't\u{301} 😀 \r\n"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    guard let tokenizer = try? BPETokenizer(tokenizerJSON: data, source: "fuzz/tokenizer.json", bosToken: "<s>", eosToken: "</s>") else { return 0 }
    let ids = tokenizer.encode(sample)
    _ = tokenizer.decode(ids)
    _ = tokenizer.decode(ids + [0, tokenizer.vocabularySize - 1, tokenizer.vocabularySize, -1], skipSpecialTokens: true)
    return 0
}
