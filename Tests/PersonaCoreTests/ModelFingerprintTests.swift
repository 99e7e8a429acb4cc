// The model fingerprint identifies weights by content: two GGUF files with byte-identical headers
// and tensor tables whose tensor data differ (as two fine-tunes of one model do) get different
// fingerprints; an identical copy gets the same one.
import Foundation
import XCTest
import PersonaModel
import PersonaTestSupport
@testable import PersonaCore

final class ModelFingerprintTests: XCTestCase {
    /// One F32 tensor of 4 MiB: its data lies past the first MiB of the file.
    func writeModel(_ data: [UInt8], to url: URL) throws -> String {
        var builder = GGUFBuilder()
        builder.add("general.architecture", .string("llama"))
        builder.tensors = [GGUFBuilder.Tensor(name: "blk.0.ffn_up.weight", dims: [1024, 1024], type: 0, data: data)]
        try Data(builder.build()).write(to: url)
        return ModelFingerprint.of(.gguf(try GGUFFile(path: url.path)))
    }

    func testFilesDifferingOnlyInTensorDataHaveDifferentFingerprints() throws {
        let dir = try TestPaths.temporaryDirectory()
        var generator = SystemRandomNumberGenerator()
        let base = (0..<(4 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var tuned = base
        // 3 MiB into the data: past the old first-MiB hash, at a sample point (every 256 KiB).
        for i in (3 << 20)..<((3 << 20) + 64) { tuned[i] ^= 0x5A }
        let a = try writeModel(base, to: dir.appendingPathComponent("a.gguf"))
        let copy = try writeModel(base, to: dir.appendingPathComponent("copy.gguf"))
        let b = try writeModel(tuned, to: dir.appendingPathComponent("b.gguf"))
        let headerA = try GGUFFile(path: dir.appendingPathComponent("a.gguf").path)
        let headerB = try GGUFFile(path: dir.appendingPathComponent("b.gguf").path)
        XCTAssertEqual(Array(headerA.headerBytes), Array(headerB.headerBytes), "the files must differ only in tensor data")
        XCTAssertEqual(headerA.fileSize, headerB.fileSize)
        XCTAssertEqual(a, copy)
        XCTAssertNotEqual(a, b)
        XCTAssertTrue(a.hasPrefix("gguf-content:"), a)
    }
}
