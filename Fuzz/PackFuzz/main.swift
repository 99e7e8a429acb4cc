// libFuzzer target for trait pack JSON (bare pack folders and the reference repo's trait JSON come
// from outside): any byte string must decode or throw a PackError naming the
// file, never crash or trap; a decoded pack must validate (report its problems) without trapping.
// Build and run with `make fuzz`.
import Foundation
import PersonaCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPack(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    // The one pack reader (pack.json via Codable, or reference trait JSON), as every pack is loaded.
    if let pack = try? PackFiles.decode(data, path: "fuzz/pack.json") { _ = PackValidation.problems(pack) }
    return 0
}
