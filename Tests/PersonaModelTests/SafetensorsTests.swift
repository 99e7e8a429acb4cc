// safetensors files and Hugging Face folders: round trips and hostile headers.
import Foundation
import XCTest
import PersonaTestSupport
@testable import PersonaModel

final class SafetensorsTests: XCTestCase {
    private func file(_ data: Data) throws -> SafetensorsFile { try SafetensorsFile(bytes: FileBytes(data: data, label: "t.safetensors")) }

    /// Raw safetensors bytes with a hand-written header.
    private func raw(header: String, dataSize: Int) -> Data {
        var out = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: Array(header.utf8))
        out.append(Data(repeating: 0, count: dataSize))
        return out
    }

    func testWriterReaderRoundTrip() throws {
        let values: [Float] = (0..<12).map { Float($0) * 0.5 - 1 }
        let data = try SafetensorsWriter.encode(
            [.init(name: "vectors", shape: [3, 4], values: values), .init(name: "vector", shape: [4], values: [1, 2, 3, 4])],
            metadata: ["persona.trait": "evil", "persona.layers": "block-output"])
        let f = try file(data)
        XCTAssertEqual(f.metadata["persona.trait"], "evil")
        let t = try XCTUnwrap(f.tensor(named: "vectors"))
        XCTAssertEqual(t.shape, [3, 4])
        XCTAssertEqual(t.dtype, "F32")
        let bytes = f.data(of: t)
        let read = (0..<12).map { bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        XCTAssertEqual(read, values)
    }

    func testHostileHeaders() throws {
        assertThrows(SafetensorsError.truncated(path: "t.safetensors", needed: 8, available: 3)) { try file(Data([1, 2, 3])) }
        var huge = Data()
        var n = UInt64(1 << 40).littleEndian
        withUnsafeBytes(of: &n) { huge.append(contentsOf: $0) }
        huge.append(Data(repeating: 0x20, count: 16))
        assertThrows(SafetensorsError.headerTooLarge(path: "t.safetensors", size: 1 << 40, maximum: 16)) { try file(huge) }
        XCTAssertThrowsError(try file(raw(header: "{not json", dataSize: 0))) { error in
            guard case SafetensorsError.badHeader = error else { return XCTFail("\(error)") }
        }
        assertThrows(SafetensorsError.unsupportedDType(path: "t.safetensors", tensor: "x", dtype: "I64")) {
            try file(raw(header: #"{"x":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#, dataSize: 16))
        }
        assertThrows(SafetensorsError.tensorOutsideData(path: "t.safetensors", tensor: "x", begin: 0, end: 800, dataSize: 8)) {
            try file(raw(header: #"{"x":{"dtype":"F32","shape":[200],"data_offsets":[0,800]}}"#, dataSize: 8))
        }
        assertThrows(SafetensorsError.sizeMismatch(path: "t.safetensors", tensor: "x", shape: [3], dtype: "F32", expectedBytes: 12, foundBytes: 8)) {
            try file(raw(header: #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, dataSize: 8))
        }
        assertThrows(SafetensorsError.overlappingTensors(path: "t.safetensors", first: "a", second: "b")) {
            try file(
                raw(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, dataSize: 12))
        }
        XCTAssertThrowsError(try file(raw(header: #"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, dataSize: 4))) { error in
            guard case SafetensorsError.badTensorEntry(_, "x", "shape", _) = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try file(raw(header: #"{"x":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#, dataSize: 4))) {
            error in
            guard case SafetensorsError.badTensorEntry(_, "x", "shape", _) = error else { return XCTFail("\(error)") }
        }
    }

    func testHuggingFaceFolderWithShards() throws {
        let dir = try TestPaths.temporaryDirectory()
        let config =
            #"{"model_type":"qwen2","num_hidden_layers":2,"hidden_size":8,"intermediate_size":16,"num_attention_heads":2,"num_key_value_heads":1,"vocab_size":32,"max_position_embeddings":128,"rope_theta":1000000.0,"rms_norm_eps":1e-6,"tie_word_embeddings":true}"#
        try config.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        try #"{"chat_template":"{{ messages[0]['content'] }}"}"#.write(
            to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        try SafetensorsWriter.write(
            [.init(name: "model.embed_tokens.weight", shape: [32, 8], values: .init(repeating: 1, count: 256))],
            to: dir.appendingPathComponent("model-00001-of-00002.safetensors"))
        try SafetensorsWriter.write(
            [.init(name: "model.norm.weight", shape: [8], values: .init(repeating: 2, count: 8))],
            to: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        let index =
            #"{"metadata":{},"weight_map":{"model.embed_tokens.weight":"model-00001-of-00002.safetensors","model.norm.weight":"model-00002-of-00002.safetensors"}}"#
        try index.write(to: dir.appendingPathComponent("model.safetensors.index.json"), atomically: true, encoding: .utf8)
        let folder = try HFModelFolder(url: dir)
        XCTAssertEqual(folder.config.architecture, "qwen2")
        XCTAssertEqual(folder.config.headDimension, 4)
        XCTAssertTrue(folder.config.attentionBias)
        XCTAssertEqual(folder.tensors.map(\.name), ["model.embed_tokens.weight", "model.norm.weight"])
        XCTAssertEqual(folder.chatTemplate, "{{ messages[0]['content'] }}")
        XCTAssertEqual(try folder.data(of: "model.norm.weight").bytes.count, 32)

        // A shard name that escapes the folder is refused.
        try #"{"weight_map":{"x":"../../etc/passwd"}}"#.write(to: dir.appendingPathComponent("model.safetensors.index.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try HFModelFolder(url: dir)) { error in
            guard case SafetensorsError.unsafeShardName(_, "../../etc/passwd") = error else { return XCTFail("\(error)") }
        }
        // A config with a bad value names the field.
        try #"{"model_type":"llama","num_hidden_layers":"two","hidden_size":8,"intermediate_size":16,"num_attention_heads":2,"vocab_size":32}"#
            .write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try HFModelFolder(url: dir)) { error in
            guard case ModelConfigError.invalid(_, "num_hidden_layers", _, _) = error else { return XCTFail("\(error)") }
        }
    }
}
