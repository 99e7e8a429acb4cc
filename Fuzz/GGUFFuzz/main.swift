// libFuzzer target for the GGUF reader: any byte string must parse or throw a GGUFError, never
// crash, hang or read out of bounds. Build and run with `make fuzz` (FUZZ_SECONDS=60 by default).
import Foundation
import PersonaModel

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    if let file = try? GGUFFile(bytes: FileBytes(data: data, label: "fuzz")) {
        // Touch what a caller would: metadata accessors, config, every tensor's bytes.
        _ = try? ModelConfig(gguf: file)
        _ = file.stringArray("tokenizer.ggml.tokens")?.count
        for t in file.tensors { _ = file.data(of: t).first }
    }
    return 0
}
