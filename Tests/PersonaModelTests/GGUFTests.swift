// The GGUF reader against the real default models, every metadata type, and a corrupt-input suite
// in which each failure must produce its own specific error.
import Foundation
import XCTest
import PersonaTestSupport
@testable import PersonaModel
import PersonaTensor

final class GGUFTests: XCTestCase {
    // MARK: Real models

    func testSmolLM2Figures() throws {
        let file = try GGUFFile(path: TestPaths.model("smollm2-135m"))
        let c = try ModelConfig(gguf: file)
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(c.architecture, "llama")
        XCTAssertEqual(c.layerCount, 30)
        XCTAssertEqual(c.hiddenSize, 576)
        XCTAssertEqual(c.headCount, 9)
        XCTAssertEqual(c.kvHeadCount, 3)
        XCTAssertEqual(c.headDimension, 64)
        XCTAssertEqual(c.feedForwardSize, 1536)
        XCTAssertEqual(c.vocabularySize, 49152)
        XCTAssertEqual(c.ropeTheta, 100000)
        XCTAssertTrue(c.tiedEmbeddings)
        XCTAssertFalse(c.attentionBias)
        XCTAssertEqual(file.string("tokenizer.ggml.pre"), "smollm")
        XCTAssertEqual(file.stringArray("tokenizer.ggml.tokens")?.count, 49152)
        XCTAssertNotNil(file.string("tokenizer.chat_template"))
        // Every tensor's bytes are reachable and of the computed size.
        for t in file.tensors { XCTAssertEqual(file.data(of: t).count, t.byteCount) }
        XCTAssertEqual(file.tensor(named: "blk.0.attn_q.weight")?.shape, [576, 576])
    }

    func testQwenFigures() throws {
        let file = try GGUFFile(path: TestPaths.model("qwen2.5-0.5b"))
        let c = try ModelConfig(gguf: file)
        XCTAssertEqual(c.architecture, "qwen2")
        XCTAssertEqual(c.layerCount, 24)
        XCTAssertEqual(c.hiddenSize, 896)
        XCTAssertEqual(c.headCount, 14)
        XCTAssertEqual(c.kvHeadCount, 2)
        XCTAssertEqual(c.feedForwardSize, 4864)
        XCTAssertEqual(c.vocabularySize, 151936)
        XCTAssertTrue(c.attentionBias)
        XCTAssertFalse(c.tiedEmbeddings)
        let types = Set(file.tensors.map(\.type))
        XCTAssertEqual(types, [.q4_K, .q5_0, .q6_K, .q8_0, .f32])
        XCTAssertEqual(file.string("tokenizer.ggml.pre"), "qwen2")
    }

    func testQwenLargeFiguresWhenPresent() throws {
        let path = TestPaths.root.appendingPathComponent("models/qwen2.5-1.5b.gguf").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("qwen2.5-1.5b is fetched only by `make models-large`") }
        let c = try ModelConfig(gguf: GGUFFile(path: path))
        XCTAssertEqual(
            [c.layerCount, c.hiddenSize, c.headCount, c.kvHeadCount, c.headDimension, c.feedForwardSize],
            [28, 1536, 12, 2, 128, 8960])
    }

    func testTruncatedRealModelIsRefused() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: TestPaths.model("smollm2-135m")))
        let half = bytes.prefix(bytes.count / 2)
        XCTAssertThrowsError(try GGUFFile(bytes: FileBytes(data: half, label: "half.gguf"))) { error in
            guard case GGUFError.tensorOutsideData(let path, _, _, _, _) = error else {
                return XCTFail("expected tensorOutsideData, got \(error)")
            }
            XCTAssertEqual(path, "half.gguf")
        }
        // Cut inside the metadata: the token list runs past the end.
        let head = bytes.prefix(100_000)
        XCTAssertThrowsError(try GGUFFile(bytes: FileBytes(data: head, label: "head.gguf"))) { error in
            XCTAssert("\(error)".contains("head.gguf"), "\(error)")
        }
    }

    // MARK: Every value type

    func testEveryMetadataTypeAndNestedArrays() throws {
        var b = GGUFBuilder.small()
        b.add("t.u8", .u8(200)); b.add("t.i8", .i8(-5)); b.add("t.u16", .u16(65000)); b.add("t.i16", .i16(-300))
        b.add("t.u32", .u32(4_000_000_000)); b.add("t.i32", .i32(-7)); b.add("t.f32", .f32(1.5)); b.add("t.bool", .bool(true))
        b.add("t.str", .string("héllo")); b.add("t.u64", .u64(1 << 40)); b.add("t.i64", .i64(-(1 << 40))); b.add("t.f64", .f64(2.25))
        b.add("t.strs", .array(elementType: 8, [.string("a"), .string("bc")]))
        b.add("t.nested", .array(elementType: 9, [.array(elementType: 5, [.i32(1), .i32(2)]), .array(elementType: 5, [.i32(3)])]))
        b.add("t.empty", .array(elementType: 4, []))
        let f = try b.parse()
        XCTAssertEqual(f.metadata["t.u8"], .uint8(200))
        XCTAssertEqual(f.metadata["t.i8"], .int8(-5))
        XCTAssertEqual(f.metadata["t.u16"], .uint16(65000))
        XCTAssertEqual(f.metadata["t.i16"], .int16(-300))
        XCTAssertEqual(f.int("t.u32"), 4_000_000_000)
        XCTAssertEqual(f.int("t.i32"), -7)
        XCTAssertEqual(f.double("t.f32"), 1.5)
        XCTAssertEqual(f.bool("t.bool"), true)
        XCTAssertEqual(f.string("t.str"), "héllo")
        XCTAssertEqual(f.int("t.u64"), 1 << 40)
        XCTAssertEqual(f.int("t.i64"), -(1 << 40))
        XCTAssertEqual(f.double("t.f64"), 2.25)
        XCTAssertEqual(f.stringArray("t.strs"), [Array("a".utf8), Array("bc".utf8)])
        XCTAssertEqual(f.metadata["t.nested"], .array(.array([.int32([1, 2]), .int32([3])])))
        XCTAssertEqual(f.intArray("t.empty"), [])
        XCTAssertEqual(f.metadataKeys.first, "general.architecture")
        XCTAssertEqual(f.tensors.map(\.name), ["a", "b"])
        XCTAssertEqual(f.tensor(named: "a")?.shape, [2, 8])
        XCTAssertEqual(f.tensor(named: "b")?.byteCount, 34)
    }

    func testVersion2AndCustomAlignment() throws {
        var b = GGUFBuilder.small()
        b.version = 2
        b.alignment = 64
        b.add("general.alignment", .u32(64))
        let f = try b.parse()
        XCTAssertEqual(f.version, 2)
        XCTAssertEqual(f.alignment, 64)
        XCTAssertEqual(f.dataOffset % 64, 0)
        XCTAssertEqual(f.tensor(named: "b")?.offset, 64)
    }

    // MARK: Corrupt inputs, each with its specific error

    func testTruncatedHeader() {
        let bytes = Array(GGUFBuilder.small().build().prefix(10))
        XCTAssertThrowsError(try GGUFFile(bytes: FileBytes(data: Data(bytes), label: "t"))) { error in
            guard case GGUFError.truncated(_, let field, _, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(field, "tensor_count")
        }
        assertThrows(GGUFError.truncated(path: "t", field: "magic", offset: 0, needed: 4, available: 2)) {
            try GGUFFile(bytes: FileBytes(data: Data([0x47, 0x47]), label: "t"))
        }
    }

    func testBadMagic() {
        var b = GGUFBuilder.small()
        b.magic = Array("GGML".utf8)
        assertThrows(GGUFError.badMagic(path: "test.gguf", found: Array("GGML".utf8))) { try b.parse() }
    }

    func testUnsupportedVersion() {
        var b = GGUFBuilder.small()
        b.version = 1
        assertThrows(GGUFError.unsupportedVersion(path: "test.gguf", version: 1)) { try b.parse() }
        b.version = 99
        assertThrows(GGUFError.unsupportedVersion(path: "test.gguf", version: 99)) { try b.parse() }
    }

    func testTensorCountLargerThanFileCouldHold() {
        var b = GGUFBuilder.small()
        b.tensorCountOverride = 1 << 60
        XCTAssertThrowsError(try b.parse()) { error in
            guard case GGUFError.countTooLarge(_, "tensor_count", 1 << 60, _) = error else { return XCTFail("\(error)") }
        }
    }

    func testHugeArrayCount() {
        var b = GGUFBuilder.small()
        b.add("x", .array(elementType: 4, []))
        var bytes = b.build()
        // Patch the array length (the last metadata value's count) to 2^62.
        let key = Array("x".utf8)
        let keyAt = (0..<(bytes.count - key.count)).first { i in
            bytes[i..<(i + key.count)].elementsEqual(key) && bytes[i - 8] == 1
        }!
        let countAt = keyAt + 1 + 4 + 4
        let big = UInt64(1 << 62).littleEndian
        withUnsafeBytes(of: big) { for (i, byte) in $0.enumerated() { bytes[countAt + i] = byte } }
        XCTAssertThrowsError(try GGUFFile(bytes: FileBytes(data: Data(bytes), label: "t"))) { error in
            guard case GGUFError.countTooLarge(_, "x array length", _, _) = error else { return XCTFail("\(error)") }
        }
    }

    func testStringLengthPastEnd() {
        var b = GGUFBuilder()
        b.add("general.name", .string("abc"))
        var bytes = b.build()
        // The value string's length field follows magic(4) version(4) counts(16) key(8+12) type(4).
        let lengthAt = 4 + 4 + 16 + 8 + "general.name".utf8.count + 4
        withUnsafeBytes(of: UInt64(1_000_000).littleEndian) { for (i, byte) in $0.enumerated() { bytes[lengthAt + i] = byte } }
        XCTAssertThrowsError(try GGUFFile(bytes: FileBytes(data: Data(bytes), label: "t"))) { error in
            guard case GGUFError.stringTooLong(_, "general.name", 1_000_000, _) = error else { return XCTFail("\(error)") }
        }
    }

    func testTensorOffsetOutsideDataSection() {
        var b = GGUFBuilder.small()
        b.tensors[1].offset = 1 << 20
        b.dataSizeOverride = 128
        XCTAssertThrowsError(try b.parse()) { error in
            guard case GGUFError.tensorOutsideData(_, "b", 1 << 20, 34, _) = error else { return XCTFail("\(error)") }
        }
    }

    func testOverlappingTensors() {
        var b = GGUFBuilder.small()
        b.tensors = [
            GGUFBuilder.Tensor(name: "a", dims: [64], type: 0, offset: 0),
            GGUFBuilder.Tensor(name: "b", dims: [64], type: 0, offset: 128)
        ]
        assertThrows(GGUFError.overlappingTensors(path: "test.gguf", first: "a", second: "b")) { try b.parse() }
    }

    func testShapeProductOverflow() {
        var b = GGUFBuilder.small()
        b.tensors = [GGUFBuilder.Tensor(name: "big", dims: [1 << 36, 1 << 36, 1 << 36], type: 0, offset: 0)]
        assertThrows(GGUFError.shapeOverflow(path: "test.gguf", tensor: "big", shape: [1 << 36, 1 << 36, 1 << 36])) { try b.parse() }
    }

    func testUnknownTensorType() {
        var b = GGUFBuilder.small()
        b.tensors[0].type = 77
        assertThrows(GGUFError.unknownTensorType(path: "test.gguf", tensor: "a", type: 77)) { try b.parse() }
    }

    func testMisalignedData() {
        var b = GGUFBuilder.small()
        b.tensors[1].offset = 68
        assertThrows(GGUFError.misalignedTensor(path: "test.gguf", tensor: "b", offset: 68, alignment: 32)) { try b.parse() }
    }

    func testDuplicateTensorName() {
        var b = GGUFBuilder.small()
        b.tensors[1].name = "a"
        assertThrows(GGUFError.duplicateTensor(path: "test.gguf", name: "a")) { try b.parse() }
    }

    func testInvalidUTF8Key() {
        var b = GGUFBuilder.small()
        b.metadata.append((key: [0x66, 0xC3, 0x28], value: .u8(1)))
        assertThrows(GGUFError.invalidUTF8(path: "test.gguf", field: "metadata[2].key")) { try b.parse() }
    }

    func testBlockMisalignedRowAndBadDimensions() {
        var b = GGUFBuilder.small()
        b.tensors[1].dims = [33]  // Q8_0 rows are whole 32-element blocks
        assertThrows(GGUFError.notBlockAligned(path: "test.gguf", tensor: "b", type: "Q8_0", rowLength: 33, blockSize: 32)) { try b.parse() }
        var c = GGUFBuilder.small()
        c.tensors[0].dims = [1, 1, 1, 1, 1]
        assertThrows(GGUFError.badDimensionCount(path: "test.gguf", tensor: "a", count: 5)) { try c.parse() }
    }

    func testUnknownValueTypeDuplicateKeyAndBadAlignment() {
        var b = GGUFBuilder.small()
        b.add("general.architecture", .string("qwen2"))
        assertThrows(GGUFError.duplicateKey(path: "test.gguf", key: "general.architecture")) { try b.parse() }
        var c = GGUFBuilder.small()
        c.add("general.alignment", .u32(48))
        assertThrows(GGUFError.badAlignment(path: "test.gguf", value: "48 (uint32)")) { try c.parse() }
        var d = GGUFBuilder.small()
        d.add("x", .array(elementType: 13, []))
        assertThrows(GGUFError.unknownValueType(path: "test.gguf", field: "x element type", type: 13)) { try d.parse() }
    }

    func testDeeplyNestedArraysAreRefused() {
        var value = GGUFBuilder.Value.array(elementType: 4, [])
        for _ in 0..<20 { value = .array(elementType: 9, [value]) }
        var b = GGUFBuilder.small()
        b.add("deep", value)
        XCTAssertThrowsError(try b.parse()) { error in
            guard case GGUFError.nestingTooDeep(_, "deep", _) = error else { return XCTFail("\(error)") }
        }
    }

    func testMissingAndWrongTypedKeysAreNamed() throws {
        var b = GGUFBuilder.small()
        b.add("llama.embedding_length", .string("wide"))
        let f = try b.parse()
        assertThrows(GGUFError.wrongValueType(path: "test.gguf", key: "llama.embedding_length", expected: "integer", found: "string")) {
            try ModelConfig(gguf: f)
        }
        assertThrows(GGUFError.missingKey(path: "test.gguf", key: "qwen2.block_count")) { try f.requiredInt("qwen2.block_count") }
    }

    func testRandomMutationsNeverCrash() throws {
        // A cheap, seeded in-test cousin of the libFuzzer target: flip bytes of a valid header.
        let base = GGUFBuilder.small().build()
        var state: UInt64 = 0x1234
        var parsed = 0, refused = 0
        for iteration in 0..<3000 {
            var bytes = base
            for _ in 0..<3 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                bytes[Int(state >> 33) % bytes.count] = UInt8(truncatingIfNeeded: state >> 17)
            }
            // Every other mutation keeps the whole file (flips only, many of which land in values and
            // data and still parse); the others are also cut somewhere in the second half.
            let cut = iteration % 2 == 0 ? bytes.count : max(Int(state >> 40) % (bytes.count + 1), bytes.count / 2)
            do {
                _ = try GGUFFile(bytes: FileBytes(data: Data(bytes.prefix(cut)), label: "m"))
                parsed += 1
            } catch is GGUFError {
                refused += 1
            } catch {
                XCTFail("mutation \(parsed + refused) threw \(type(of: error)), not a GGUFError: \(error)")
                return
            }
        }
        // Both outcomes happen: the mutations reach past the first check, and errors are the reader's own.
        XCTAssertGreaterThan(parsed, 0, "no mutation parsed: they only exercise the first check")
        XCTAssertGreaterThan(refused, 0, "no mutation was refused")
        print("GGUF mutations: \(parsed) parsed, \(refused) refused")
    }
}
