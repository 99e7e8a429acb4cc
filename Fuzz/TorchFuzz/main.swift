// libFuzzer target for the `.pt` reader (the reference repo's vector files: a ZIP archive holding a
// pickle and raw storage): any byte string must read or throw a ZipError, PickleError or
// TorchFileError, never crash, trap, hang or allocate without bound. Build and run with `make fuzz`.
import Foundation
import PersonaCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTorch(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    if let tensor = try? TorchVectorFile.readTensor(data: data, path: "fuzz.pt") {
        _ = tensor.values.reduce(0, +)
    }
    return 0
}
