// libFuzzer target for the safetensors reader (model folders and vector files come from outside):
// any byte string must parse or throw a SafetensorsError, never crash, trap or read out of bounds.
// Build and run with `make fuzz`.
import Foundation
import PersonaModel

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    if let file = try? SafetensorsFile(bytes: FileBytes(data: data, label: "fuzz.safetensors")) {
        // Touch what a caller would: every tensor's element count, bytes and lookup by name.
        for t in file.tensors {
            _ = t.elementCount
            _ = file.data(of: t).last
            _ = file.tensor(named: t.name)
        }
        _ = file.metadata["persona.trait"]
    }
    return 0
}
