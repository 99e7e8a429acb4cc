// Vector interop: llama.cpp control-vector GGUF through our own GGUF reader, safetensors round
// trip, the reference repo's `.pt` files (fixture made by scripts/make-pt-fixture.py) and corrupt
// `.pt` inputs, each with its own error.
import Foundation
import XCTest
import PersonaTestSupport
import PersonaModel
@testable import PersonaCore

final class VectorInteropTests: XCTestCase {
    static let fixture = TestPaths.root.appendingPathComponent("Tests/PersonaCoreTests/Fixtures/vectors/tiny.pt")

    /// The fixture's values: row 0 (embeddings) 100 + c; row r ≥ 1: r·0.5 + c·0.01 − 0.25.
    static func fixtureRow(_ r: Int) -> [Float] {
        (0..<8).map { (c: Int) -> Float in
            if r == 0 { return Float(100 + c) }
            let v: Double = Double(r) * 0.5 + Double(c) * 0.01 - 0.25
            return Float(v)
        }
    }

    func sampleVectors(layers: Int = 5, hidden: Int = 12, rowZero: Bool = true) -> TraitVectors {
        var rows: [[Float]] = []
        for l in 0..<layers {
            var row: [Float] = []
            for c in 0..<hidden { row.append(Float(l) * 0.25 - Float(c) * 0.125 + 0.0625) }
            rows.append(row)
        }
        if !rowZero { rows[0] = [Float](repeating: 0, count: hidden) }
        return TraitVectors(rows: rows, metadata: ["persona.trait": "evil", "persona.method": "response_avg", "persona.model": "abc123"])
    }

    // MARK: llama.cpp control vectors

    func testControlVectorRoundTripsThroughOurGGUFReader() throws {
        let vectors = sampleVectors()
        let dir = try TestPaths.temporaryDirectory()
        let url = dir.appendingPathComponent("evil.gguf")
        let warnings = try ControlVectorGGUF.write(vectors, modelHint: "qwen2", to: url)
        XCTAssertEqual(warnings.count, 1, "row 0 is non-zero: one warning")
        XCTAssert(warnings[0].contains("row 0"), warnings[0])

        let file = try GGUFFile(path: url.path)
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.alignment, 32)
        XCTAssertEqual(file.dataOffset % 32, 0)
        XCTAssertEqual(file.string("general.architecture"), "controlvector")
        XCTAssertEqual(file.string("controlvector.model_hint"), "qwen2")
        XCTAssertEqual(file.metadata["controlvector.layer_count"], .uint32(4))
        XCTAssertEqual(file.string("persona.trait"), "evil")
        XCTAssertEqual(file.tensors.map(\.name), ["direction.1", "direction.2", "direction.3", "direction.4"])
        for t in file.tensors {
            XCTAssertEqual(t.type, .f32)
            XCTAssertEqual(t.dimensions, [12])
            XCTAssertEqual(t.offset % 32, 0)
            let l = Int(t.name.dropFirst("direction.".count))!
            let raw = file.data(of: t)
            let values = (0..<12).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
            XCTAssertEqual(values, vectors.rows[l], t.name)
        }
        // ggml reads the padded data section: the file must reach the end of the last padded tensor.
        let last = try XCTUnwrap(file.tensors.max { $0.offset < $1.offset })
        XCTAssertEqual(file.fileSize, file.dataOffset + (last.offset + last.byteCount + 31) / 32 * 32)

        // And back to trait vectors: row 0 is zero, the rest equal.
        let back = try ControlVectorGGUF.read(path: url.path)
        XCTAssertEqual(back.rows.count, 5)
        XCTAssertEqual(back.rows[0], [Float](repeating: 0, count: 12))
        XCTAssertEqual(Array(back.rows[1...]), Array(vectors.rows[1...]))
    }

    func testControlVectorZeroRowZeroNoWarningAndSingleVector() throws {
        let (_, warnings) = try ControlVectorGGUF.encode(sampleVectors(rowZero: false), modelHint: "llama")
        XCTAssertEqual(warnings, [])
        let single = TraitVectors(rows: [[1, 2, 3, 4]], isSingle: true)
        assertThrows(VectorExportError.singleVectorNeedsLayer(path: "s")) { try ControlVectorGGUF.encode(single, modelHint: "llama", path: "s") }
        let (data, _) = try ControlVectorGGUF.encode(single, modelHint: "llama", layer: 7)
        let file = try GGUFFile(bytes: FileBytes(data: data, label: "mem"))
        XCTAssertEqual(file.tensors.map(\.name), ["direction.7"])
        XCTAssertEqual(file.metadata["controlvector.layer_count"], .uint32(1))
    }

    // MARK: safetensors

    func testSafetensorsRoundTrip() throws {
        let vectors = sampleVectors()
        let url = try TestPaths.temporaryDirectory().appendingPathComponent("v.safetensors")
        try vectors.write(to: url)
        let back = try VectorFiles.read(path: url.path)
        XCTAssertEqual(back.rows, vectors.rows)
        XCTAssertEqual(back.metadata["persona.layers"], "block-output")
        XCTAssertEqual(back.metadata["persona.trait"], "evil")
        let summary = try VectorSummary.load(path: url.path)
        XCTAssertEqual(summary.shape, [5, 12])
        XCTAssertEqual(summary.norms[2], vectors.rows[2].reduce(0) { $0 + Double($1) * Double($1) }.squareRoot(), accuracy: 1e-9)
    }

    // MARK: .pt import

    func testTorchFixtureImportDropsRowZero() throws {
        let tensor = try TorchVectorFile.readTensor(path: Self.fixture.path)
        XCTAssertEqual(tensor.shape, [5, 8])
        XCTAssertEqual(Array(tensor.values[0..<8]), Self.fixtureRow(0))

        let vectors = try VectorFiles.read(path: Self.fixture.path, trait: "evil")
        XCTAssertFalse(vectors.isSingle)
        XCTAssertEqual(vectors.rows.count, 4, "[numLayers + 1, hidden] → [numLayers, hidden]")
        for l in 0..<4 { XCTAssertEqual(vectors.rows[l], Self.fixtureRow(l + 1), "row \(l) is the reference's row \(l + 1)") }
        XCTAssertEqual(vectors.metadata["persona.trait"], "evil")

        // Import → our safetensors → read back.
        let url = try TestPaths.temporaryDirectory().appendingPathComponent("tiny.safetensors")
        try vectors.write(to: url)
        XCTAssertEqual(try TraitVectors.read(path: url.path).rows, vectors.rows)
    }

    func testDeflatedEntries() throws {
        let fixtures = Self.fixture.deletingLastPathComponent()
        // The same tensor with every entry deflated.
        let deflated = try TorchVectorFile.readTensor(path: fixtures.appendingPathComponent("tiny-deflate.pt").path)
        XCTAssertEqual(deflated, try TorchVectorFile.readTensor(path: Self.fixture.path))
        // Dynamic Huffman blocks and long back-references; data(of:) checks the CRC of the output.
        let zip = try ZipArchive(path: fixtures.appendingPathComponent("deflate-check.zip").path)
        let entry = try XCTUnwrap(zip.entry(named: "text.txt"))
        XCTAssertEqual(entry.method, 8)
        XCTAssertLessThan(entry.compressedSize, entry.uncompressedSize / 5)
        let text = try zip.data(of: entry)
        XCTAssertEqual(text.count, 20_000)
        XCTAssert(String(decoding: text, as: UTF8.self).hasPrefix("line 0: the quick brown fox 0 jumps over the lazy dog\nline 1: "))
        // Corrupt deflate data is its own error, never a crash.
        var bytes = [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("deflate-check.zip")))
        let start = entry.localHeaderOffset + 30 + entry.name.utf8.count
        for k in 0..<40 { bytes[start + 10 + k] = UInt8((k * 37) & 0xFF) }
        let broken = try ZipArchive(data: Data(bytes), path: "broken.zip")
        XCTAssertThrowsError(try broken.data(named: "text.txt")) { error in
            switch error {
            case ZipError.badDeflate(path: "broken.zip", entry: "text.txt", _), ZipError.crcMismatch, ZipError.sizeMismatch: break
            default: XCTFail("\(error)")
            }
        }
    }

    /// A deflated entry whose stream is cut at the very end of the file (the directory stands before
    /// it, the entry fills the end record's comment), or whose declared size passes what its stream
    /// holds, ends in a badDeflate error naming the file and entry, at once.
    func testDeflateStreamCutOrOversizedIsAnError() throws {
        let fixture = Self.fixture.deletingLastPathComponent().appendingPathComponent("deflate-check.zip")
        let source = try ZipArchive(path: fixture.path)
        let entry = try XCTUnwrap(source.entry(named: "text.txt"))
        let bytes = [UInt8](try Data(contentsOf: fixture))
        let at = entry.localHeaderOffset
        let start = at + 30 + (Int(bytes[at + 26]) | Int(bytes[at + 27]) << 8) + (Int(bytes[at + 28]) | Int(bytes[at + 29]) << 8)
        let stream = Array(bytes[start..<(start + entry.compressedSize)])
        func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xFF) } }
        func archive(_ compressed: [UInt8], size: Int) -> Data {
            let name = Array("text.txt".utf8)
            let fields = u16(20) + u16(0) + u16(8) + u16(0) + u16(0) + u32(Int(entry.crc32)) + u32(compressed.count) + u32(size) + u16(name.count) + u16(0)
            let central = u32(0x0201_4b50) + u16(20) + fields + u16(0) + u16(0) + u16(0) + u32(0) + u32(46 + name.count + 22) + name
            let local = u32(0x0403_4b50) + fields + name + compressed
            return Data(central + u32(0x0605_4b50) + u16(0) + u16(0) + u16(1) + u16(1) + u32(central.count) + u32(0) + u16(local.count) + local)
        }
        XCTAssertEqual(try ZipArchive(data: archive(stream, size: entry.uncompressedSize), path: "whole.zip").data(named: "text.txt").count, 20_000)
        for (name, compressed, size) in [
            ("cut.zip", Array(stream.prefix(stream.count / 2)), entry.uncompressedSize),
            ("short.zip", stream, entry.uncompressedSize + 1), ("long.zip", stream, entry.uncompressedSize - 1),
            ("bomb.zip", stream, 1 << 30)
        ] {
            // The bomb declares 1 GiB; the reader stops at the end of the stream it has (badDeflate)
            // instead of allocating what the header declares.
            XCTAssertThrowsError(try ZipArchive(data: archive(compressed, size: size), path: name).data(named: "text.txt"), name) { error in
                guard case ZipError.badDeflate(path: name, entry: "text.txt", _) = error else { return XCTFail("\(name): \(error)") }
            }
        }
    }

    /// Every single-byte corruption and every truncation of both fixtures either reads or throws:
    /// never a crash, a hang or an out-of-bounds access.
    func testMutatedFixturesNeverCrash() throws {
        for name in ["tiny.pt", "tiny-deflate.pt"] {
            let original = [UInt8](try Data(contentsOf: Self.fixture.deletingLastPathComponent().appendingPathComponent(name)))
            var thrown = 0
            for i in 0..<original.count {
                for flip: UInt8 in [0xFF, 0x01] {
                    var bytes = original
                    bytes[i] ^= flip
                    do { _ = try TorchVectorFile.readTensor(data: Data(bytes), path: name) } catch { thrown += 1 }
                }
                do { _ = try TorchVectorFile.readTensor(data: Data(original[0..<i]), path: name) } catch { thrown += 1 }
            }
            XCTAssertGreaterThan(thrown, original.count, name)
        }
    }

    func testTraitAndMethodFromReferenceFileNames() {
        XCTAssertEqual(TorchVectorFile.guessTrait("evil_response_avg_diff"), "evil")
        XCTAssertEqual(TorchVectorFile.guessMethod("evil_response_avg_diff"), "response_avg")
        XCTAssertEqual(TorchVectorFile.guessMethod("optimistic_prompt_last_diff"), "prompt_last")
        XCTAssertEqual(TorchVectorFile.guessTrait("tiny"), "tiny")
    }

    // MARK: corrupt .pt inputs

    func fixtureBytes() throws -> [UInt8] { [UInt8](try Data(contentsOf: Self.fixture)) }

    /// Rebuilds a stored ZIP from (name, data) records (what the fixture holds, possibly altered).
    func zipBytes(_ records: [(String, [UInt8])]) -> Data {
        var out = [UInt8](), central = [UInt8]()
        func u16(_ v: Int, _ a: inout [UInt8]) { a += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: UInt32, _ a: inout [UInt8]) { for k in 0..<4 { a.append(UInt8(v >> (8 * UInt32(k)) & 0xFF)) } }
        for (name, data) in records {
            let offset = out.count, crc = ZipArchive.crc32(data), n = Array(name.utf8)
            u32(0x0403_4b50, &out); u16(20, &out); u16(0, &out); u16(0, &out); u16(0, &out); u16(0, &out)
            u32(crc, &out); u32(UInt32(data.count), &out); u32(UInt32(data.count), &out); u16(n.count, &out); u16(0, &out)
            out += n; out += data
            u32(0x0201_4b50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central)
            u32(crc, &central); u32(UInt32(data.count), &central); u32(UInt32(data.count), &central)
            u16(n.count, &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central); u32(0, &central); u32(UInt32(offset), &central)
            central += n
        }
        let cdOffset = out.count
        out += central
        u32(0x0605_4b50, &out); u16(0, &out); u16(0, &out); u16(records.count, &out); u16(records.count, &out)
        u32(UInt32(central.count), &out); u32(UInt32(cdOffset), &out); u16(0, &out)
        return Data(out)
    }

    func fixtureRecords() throws -> [(String, [UInt8])] {
        let zip = try ZipArchive(path: Self.fixture.path)
        return try zip.entries.map { ($0.name, try zip.data(of: $0)) }
    }

    func testOurZipBuilderReproducesAReadableFixture() throws {
        let rebuilt = try TorchVectorFile.readTensor(data: zipBytes(try fixtureRecords()), path: "rebuilt.pt")
        XCTAssertEqual(rebuilt, try TorchVectorFile.readTensor(path: Self.fixture.path))
    }

    func testTruncatedZip() throws {
        let bytes = try fixtureBytes()
        // Cut off the end: no end-of-central-directory record any more.
        XCTAssertThrowsError(try TorchVectorFile.readTensor(data: Data(bytes[0..<(bytes.count / 2)]), path: "cut.pt")) { error in
            guard case ZipError.notAZip(path: "cut.pt", _) = error else { return XCTFail("\(error)") }
        }
        // The directory says data/0 is longer than the bytes that remain (a file cut inside the entry).
        var records = try fixtureRecords()
        var long = [UInt8](zipBytes(records))
        let directory = try ZipArchive(data: Data(long), path: "long.pt")
        let index = try XCTUnwrap(directory.entries.firstIndex { $0.name == "archive/data/0" })
        let eocd = long.count - 22
        var at = Int(long[eocd + 16]) | Int(long[eocd + 17]) << 8
        for k in 0..<index { at += 46 + directory.entries[k].name.utf8.count }
        for field in [20, 24] { long[at + field + 2] = 0x0F }  // sizes: + 0x0F0000 bytes
        XCTAssertThrowsError(try TorchVectorFile.readTensor(data: Data(long), path: "long.pt")) { error in
            guard case ZipError.truncated(path: "long.pt", field: "data of \"archive/data/0\"", _, _, _) = error else { return XCTFail("\(error)") }
        }
        // A flipped data byte: CRC mismatch.
        records[4].1[3] ^= 0xFF
        var corrupt = [UInt8](zipBytes(records))
        let zip = try ZipArchive(data: Data(corrupt), path: "crc.pt")
        let entry = try XCTUnwrap(zip.entry(named: "archive/data/0"))
        corrupt[entry.localHeaderOffset + 30 + entry.name.utf8.count] ^= 0xFF  // restore data, break CRC
        corrupt[entry.localHeaderOffset + 30 + entry.name.utf8.count + 1] ^= 0x01
        XCTAssertThrowsError(try TorchVectorFile.readTensor(data: Data(corrupt), path: "crc.pt")) { error in
            guard case ZipError.crcMismatch(path: "crc.pt", entry: "archive/data/0", _, _) = error else { return XCTFail("\(error)") }
        }
    }

    func testBadPickleOpcode() throws {
        var records = try fixtureRecords()
        XCTAssertEqual(records[0].0, "archive/data.pkl")
        // Replace NEWFALSE (requires_grad) by 'i' (INST), an opcode torch never writes for a tensor.
        let pickle = records[0].1
        let at = try XCTUnwrap(pickle.firstIndex(of: 0x89))
        records[0].1[at] = UInt8(ascii: "i")
        assertThrows(PickleError.unknownOpcode(path: "bad.pt:archive/data.pkl", opcode: UInt8(ascii: "i"), offset: at)) {
            try TorchVectorFile.readTensor(data: zipBytes(records), path: "bad.pt")
        }
        // A pickle cut short.
        records = try fixtureRecords()
        records[0].1 = Array(records[0].1.prefix(45))
        XCTAssertThrowsError(try TorchVectorFile.readTensor(data: zipBytes(records), path: "cut.pt")) { error in
            switch error {
            case PickleError.noStop, PickleError.truncated: break
            default: XCTFail("\(error)")
            }
        }
        // A memo read of something never stored.
        XCTAssertThrowsError(try PickleReader.read([0x80, 2, 0x68, 9, 0x2E], path: "m")) { error in
            XCTAssertEqual(error as? PickleError, .missingMemo(path: "m", index: 9, offset: 2))
        }
        // Work is bounded: a long APPEND loop stops at the limit.
        var limits = PickleReader.Limits()
        limits.work = 1_000
        let appends =
            [UInt8]([0x80, 2, 0x5D]) + [UInt8](repeating: 0, count: 400).enumerated().flatMap { $0.offset % 2 == 0 ? [UInt8(0x4E)] : [UInt8(0x61)] } + [0x2E]
        XCTAssertThrowsError(try PickleReader.read(appends, path: "w", limits: limits)) { error in
            XCTAssertEqual(error as? PickleError, .limitExceeded(path: "w", limit: "work", maximum: 1_000))
        }
        XCTAssertEqual(try PickleReader.read(appends, path: "w"), .list([PickleValue](repeating: .none, count: 200)))
        // Deep nesting is refused, not recursed into.
        XCTAssertThrowsError(try PickleReader.read([0x80, 2, 0x4E] + [UInt8](repeating: 0x85, count: 100) + [0x2E], path: "d")) { error in
            XCTAssertEqual(error as? PickleError, .limitExceeded(path: "d", limit: "nesting depth", maximum: 32))
        }
    }

    func testWrongStorageSize() throws {
        var records = try fixtureRecords()
        XCTAssertEqual(records[4].0, "archive/data/0")
        records[4].1.removeLast(4)
        assertThrows(TorchFileError.storageSize(path: "small.pt", entry: "archive/data/0", expectedBytes: 160, foundBytes: 156)) {
            try TorchVectorFile.readTensor(data: zipBytes(records), path: "small.pt")
        }
    }

    func testNotATensorAndUnsupportedStorage() throws {
        var records = try fixtureRecords()
        // A pickle of a plain dict {}.
        records[0].1 = [0x80, 2, 0x7D, 0x2E]
        XCTAssertThrowsError(try TorchVectorFile.readTensor(data: zipBytes(records), path: "dict.pt")) { error in
            guard case TorchFileError.notATensor(path: "dict.pt", _) = error else { return XCTFail("\(error)") }
        }
        var pickle = try fixtureRecords()[0].1
        let needle = Array("FloatStorage".utf8), replacement = Array("LongStorage".utf8)
        let start = try XCTUnwrap((0...(pickle.count - needle.count)).first { Array(pickle[$0..<($0 + needle.count)]) == needle })
        pickle.replaceSubrange(start..<(start + needle.count), with: replacement)
        records[0].1 = pickle
        assertThrows(TorchFileError.unsupportedStorage(path: "long.pt", type: "torch.LongStorage")) {
            try TorchVectorFile.readTensor(data: zipBytes(records), path: "long.pt")
        }
    }
}
