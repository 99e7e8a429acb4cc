// Dequantization against ../shared/reference/dequant.json (raw blocks and the float32 values
// gguf-py decodes them to): bit-equal for every type, plus error cases and half conversions.
import Foundation
import XCTest
@testable import PersonaTensor

final class DequantTests: XCTestCase {
    static let referenceURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/reference/dequant.json")

    func hexBytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    func testEveryTypeBitEqualToReference() throws {
        let data = try Data(contentsOf: Self.referenceURL)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let expectedTypes: Set<String> = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
        XCTAssertTrue(expectedTypes.isSubset(of: Set(json.keys)), "reference holds \(json.keys.sorted())")
        var checked = 0
        for (name, value) in json {
            let entry = try XCTUnwrap(value as? [String: Any])
            guard let type = GGMLType.allCases.first(where: { $0.name == name }) else {
                XCTFail("unknown type \(name) in reference"); continue
            }
            XCTAssertEqual(entry["block_size"] as? Int, type.blockSize, name)
            XCTAssertEqual(entry["type_size"] as? Int, type.typeSize, name)
            let raw = hexBytes(try XCTUnwrap(entry["raw_hex"] as? String))
            let expected = try XCTUnwrap(entry["values"] as? [NSNumber]).map { $0.floatValue }
            let got = try raw.withUnsafeBytes { try Dequantize.toFloats(type: type, from: $0, elements: expected.count) }
            let mismatch = zip(got, expected).enumerated().first {
                $0.element.0.bitPattern != $0.element.1.bitPattern && !($0.element.0.isNaN && $0.element.1.isNaN)
            }
            XCTAssertNil(
                mismatch, "\(name): first mismatch at \(mismatch?.offset ?? -1): got \(mismatch?.element.0 ?? 0), expected \(mismatch?.element.1 ?? 0)")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 12)
        // F32 is not in the reference file: a float's bytes are the float.
        let floats: [Float] = [1.5, -0.0, .infinity, 3.25e-20]
        let decoded = try floats.withUnsafeBytes { try Dequantize.toFloats(type: .f32, from: $0, elements: 4) }
        XCTAssertEqual(decoded.map(\.bitPattern), floats.map(\.bitPattern))
    }

    func testErrors() throws {
        let bytes = [UInt8](repeating: 0, count: 64)
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
            XCTAssertThrowsError(try Dequantize.toFloats(type: .iq2_XXS, from: raw, elements: 256)) {
                XCTAssertEqual($0 as? TensorError, .unsupportedType(.iq2_XXS))
                XCTAssert("\($0)".contains("IQ2_XXS"))
            }
            XCTAssertThrowsError(try Dequantize.toFloats(type: .q8_0, from: raw, elements: 33)) {
                XCTAssertEqual($0 as? TensorError, .notBlockAligned(type: .q8_0, elements: 33))
            }
            XCTAssertThrowsError(try Dequantize.toFloats(type: .q8_0, from: raw, elements: 64)) {
                XCTAssertEqual($0 as? TensorError, .bufferTooSmall(type: .q8_0, needed: 68, available: 64))
            }
        }
    }

    func testHalfConversions() {
        let cases: [(UInt16, Float)] = [
            (0x0000, 0), (0x8000, -0.0), (0x3C00, 1), (0xC000, -2), (0x7BFF, 65504),
            (0x0001, 5.960464477539063e-08), (0x03FF, 6.097555160522461e-05), (0x7C00, .infinity), (0xFC00, -.infinity)
        ]
        for (bits, value) in cases {
            XCTAssertEqual(Half.toFloat(bits).bitPattern, value.bitPattern, "0x\(String(bits, radix: 16))")
            XCTAssertEqual(Half.fromFloat(value), bits)
        }
        XCTAssertTrue(Half.toFloat(0x7E00).isNaN)
        XCTAssertTrue(Half.toFloat(Half.fromFloat(.nan)).isNaN)
        // Round trip of every finite half value.
        for bits in UInt16(0)...UInt16(0xFFFF) where (bits & 0x7C00) != 0x7C00 {
            XCTAssertEqual(Half.fromFloat(Half.toFloat(bits)), bits)
        }
        XCTAssertEqual(Half.fromFloat(1 + 1.0 / 2048), 0x3C00, "ties round to even")
        XCTAssertEqual(Half.fromFloat(1e6), 0x7C00, "overflow to inf")
        XCTAssertEqual(Half.bfloat16FromFloat(1.00390625), 0x3F80, "ties round to even")
        XCTAssertEqual(Half.bfloat16ToFloat(0x3F80), 1)
        XCTAssertTrue(Half.bfloat16ToFloat(Half.bfloat16FromFloat(.nan)).isNaN)
    }
}
