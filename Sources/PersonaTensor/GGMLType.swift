// The ggml tensor element types, as numbered in ggml.h (enum ggml_type), with their block layouts.
// A tensor of type T with n elements along its first axis occupies (n / blockSize) * typeSize bytes
// per row; n must be a multiple of blockSize.

/// A ggml tensor type. Raw values are ggml's own numbering and appear in GGUF tensor infos.
public enum GGMLType: UInt32, CaseIterable, Sendable {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q8_1 = 9
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case iq2_XXS = 16
    case iq2_XS = 17
    case iq3_XXS = 18
    case iq1_S = 19
    case iq4_NL = 20
    case iq3_S = 21
    case iq2_S = 22
    case iq4_XS = 23
    case i8 = 24
    case i16 = 25
    case i32 = 26
    case i64 = 27
    case f64 = 28
    case iq1_M = 29
    case bf16 = 30
    case tq1_0 = 34
    case tq2_0 = 35
    case mxfp4 = 39

    /// The name ggml prints for this type (`Q4_K`, `F16`, …).
    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .f64: return "F64"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .mxfp4: return "MXFP4"
        default: return "\(self)".uppercased()
        }
    }

    /// Elements per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_NL, .mxfp4: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_XXS, .iq2_XS, .iq3_XXS, .iq1_S,
            .iq3_S, .iq2_S, .iq4_XS, .iq1_M, .tq1_0, .tq2_0:
            return 256
        }
    }

    /// Bytes per block.
    public var typeSize: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .f64, .i64: return 8
        case .i8: return 1
        case .i16: return 2
        case .i32: return 4
        case .q4_0: return 18  // f16 d + 16 nibble bytes
        case .q4_1: return 20  // f16 d, f16 m + 16 bytes
        case .q5_0: return 22  // f16 d + 4 high-bit bytes + 16 bytes
        case .q5_1: return 24  // f16 d, f16 m + 4 + 16
        case .q8_0: return 34  // f16 d + 32 int8
        case .q8_1: return 36  // f16 d, f16 s + 32 int8
        case .q2_K: return 84  // 16 scales + 64 qs + f16 d + f16 dmin
        case .q3_K: return 110  // 32 hmask + 64 qs + 12 scales + f16 d
        case .q4_K: return 144  // f16 d + f16 dmin + 12 scales + 128 qs
        case .q5_K: return 176  // f16 d + f16 dmin + 12 scales + 32 qh + 128 qs
        case .q6_K: return 210  // 128 ql + 64 qh + 16 scales + f16 d
        case .q8_K: return 292  // f32 d + 256 int8 + 16 int16 sums
        case .iq2_XXS: return 66
        case .iq2_XS: return 74
        case .iq3_XXS: return 98
        case .iq1_S: return 50
        case .iq4_NL: return 18
        case .iq3_S: return 110
        case .iq2_S: return 82
        case .iq4_XS: return 136
        case .iq1_M: return 56
        case .tq1_0: return 54
        case .tq2_0: return 66
        case .mxfp4: return 17
        }
    }

    /// Bytes taken by `count` elements, or nil when `count` is not a whole number of blocks or
    /// the product overflows.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: typeSize)
        return overflow ? nil : bytes
    }
}
