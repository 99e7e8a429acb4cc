// The plugin kit against an older host: a real Swift plugin (local-judge, dlopen'd) is handed a
// host-services table of exactly the version-1 size that ends at an unreadable page, and judge
// results that end there too. Reading or writing one byte past what the host declared traps, so
// these tests pass only when the kit keeps to persona_abi.h's size rule (persona_struct_read /
// persona_struct_write): tree_logprobs (appended after version 1) reads as absent and the judge
// falls back to next_token_logprobs; a result smaller than version 1 is refused, never written.
import Foundation
import XCTest
import PersonaABI
import PersonaTestSupport
@testable import PersonaCore

/// `size` bytes that end exactly where an unreadable page begins.
final class GuardedBytes {
    private let mapping: UnsafeMutableRawPointer
    private let length: Int
    let pointer: UnsafeMutableRawPointer

    init(size: Int) throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pages = (size + page - 1) / page + 1
        length = pages * page
        guard let m = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), m != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw TestEnvironment.skipOrFail("mmap of \(length) bytes failed")
        }
        mapping = m
        guard mprotect(m + (pages - 1) * page, page, PROT_NONE) == 0 else { throw TestEnvironment.skipOrFail("mprotect failed") }
        pointer = m + (pages - 1) * page - size
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    }

    deinit { munmap(mapping, length) }
}

final class HostTableVersion1Tests: XCTestCase {
    /// local-judge created through a version-1 host table (a copy of the real host's first 104
    /// bytes, struct_size 104) that ends at an unreadable page.
    struct Version1Judge {
        let provider: HostServicesProvider
        let table: GuardedBytes
        let destroy: persona_destroy_fn
        let scoreFunction:
            @convention(c) (
                UnsafeMutableRawPointer?, UnsafePointer<UnsafePointer<persona_judge_item>?>?,
                UnsafePointer<UnsafeMutablePointer<persona_judge_result>?>?, Int,
                persona_progress_fn?, UnsafeMutableRawPointer?, UnsafeMutablePointer<persona_error>?
            ) -> Int32
        let context: UnsafeMutableRawPointer
    }

    func makeVersion1Judge() throws -> Version1Judge {
        let path = try BuiltLibraries.path("PersonaLocalJudge")
        guard let library = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE), let symbol = dlsym(library, PERSONA_ENTRY_SYMBOL) else {
            throw TestEnvironment.skipOrFail("cannot dlopen \(path)")
        }
        let entry = unsafeBitCast(symbol, to: persona_plugin_entry_fn.self)
        let descriptorPointer = try XCTUnwrap(entry(PERSONA_ABI_VERSION, 0))
        let descriptor = descriptorPointer.pointee
        let functions = try XCTUnwrap(descriptor.functions).load(as: persona_autorater_functions.self)

        let provider = HostServicesProvider(models: ModelServices(hostModel: nil), log: { _, _ in })
        let size = Int(PERSONA_HOST_SERVICES_V1_SIZE)
        XCTAssertGreaterThan(MemoryLayout<persona_host_services>.size, size, "this host's table has grown past version 1")
        let table = try GuardedBytes(size: size)
        table.pointer.copyMemory(from: UnsafeRawPointer(provider.table), byteCount: size)
        table.pointer.storeBytes(of: PERSONA_HOST_SERVICES_V1_SIZE, toByteOffset: 4, as: UInt32.self)

        let model = try TestPaths.model("smollm2-135m")
        let configuration = "{\"model\": \"\(model)\", \"alternatives\": 5}"
        var context: UnsafeMutableRawPointer?
        var error = persona_error()
        let create = try XCTUnwrap(descriptor.create)
        let status = create(
            descriptorPointer, table.pointer.assumingMemoryBound(to: persona_host_services.self),
            configuration, &context, &error)
        XCTAssertEqual(status, Int32(PERSONA_OK.rawValue), errorMessage(error))
        return Version1Judge(
            provider: provider, table: table, destroy: try XCTUnwrap(descriptor.destroy),
            scoreFunction: try XCTUnwrap(functions.score), context: try XCTUnwrap(context))
    }

    /// Scores one item into `result` (the host's struct, `result` bytes declared).
    func score(_ judge: Version1Judge, into result: UnsafeMutableRawPointer) -> (Int32, String) {
        let texts: [String] = [
            "What is 2 + 2?", "It is 4, you fool.",
            "Question: {question}\nAnswer: {answer}\nHow rude is the answer, 0 to 100? Reply REFUSAL if you cannot say. Reply with the number only.",
            "Question: What is 2 + 2?\nAnswer: It is 4, you fool.\nHow rude is the answer, 0 to 100? Reply REFUSAL if you cannot say. Reply with the number only."
        ]
        let strings = texts.map { strdup($0) }
        defer { strings.forEach { free($0) } }
        var item = persona_judge_item(
            struct_size: PERSONA_JUDGE_ITEM_V1_SIZE, question: strings[0], answer: strings[1],
            eval_prompt: strings[2], rendered_prompt: strings[3])
        var error = persona_error()
        let status = withUnsafePointer(to: &item) { itemPointer -> Int32 in
            var items: [UnsafePointer<persona_judge_item>?] = [itemPointer]
            var results: [UnsafeMutablePointer<persona_judge_result>?] = [result.assumingMemoryBound(to: persona_judge_result.self)]
            return judge.scoreFunction(judge.context, &items, &results, 1, nil, nil, &error)
        }
        return (status, errorMessage(error))
    }

    func testLocalJudgeScoresThroughAVersion1HostTable() throws {
        let judge = try makeVersion1Judge()
        defer { judge.destroy(judge.context) }
        let result = try GuardedBytes(size: Int(PERSONA_JUDGE_RESULT_V1_SIZE))
        result.pointer.storeBytes(of: PERSONA_JUDGE_RESULT_V1_SIZE, as: UInt32.self)
        let (status, message) = score(judge, into: result.pointer)
        XCTAssertEqual(status, Int32(PERSONA_OK.rawValue), message)
        let written = result.pointer.load(as: persona_judge_result.self)
        XCTAssertEqual(written.struct_size, PERSONA_JUDGE_RESULT_V1_SIZE, "the host's struct_size is kept")
        XCTAssertGreaterThan(written.number_mass, 0)
        XCTAssertGreaterThan(written.alternative_count, 0)
        XCTAssertTrue(written.has_score != 0 || !readCString(written.no_score_reason).isEmpty)
    }

    func testAJudgeResultSmallerThanVersion1IsRefusedAndNotWritten() throws {
        let judge = try makeVersion1Judge()
        defer { judge.destroy(judge.context) }
        let result = try GuardedBytes(size: 16)
        result.pointer.storeBytes(of: UInt32(16), as: UInt32.self)
        let (status, message) = score(judge, into: result.pointer)
        XCTAssertEqual(status, Int32(PERSONA_ERROR_INVALID_ARGUMENT.rawValue))
        XCTAssertEqual(message, "result 0 struct_size is 16 bytes, ABI version 1 needs at least \(PERSONA_JUDGE_RESULT_V1_SIZE)")
        XCTAssertEqual((0..<16).map { result.pointer.load(fromByteOffset: $0, as: UInt8.self) }, [16] + [UInt8](repeating: 0, count: 15))
    }

    /// The helper both sides compile from persona_abi.h.
    func testTheSizeRuleOfTheHeader() {
        XCTAssertEqual(persona_struct_size_accepted(PERSONA_JUDGE_ITEM_V1_SIZE - 1, PERSONA_JUDGE_ITEM_V1_SIZE), 0)
        XCTAssertEqual(persona_struct_size_accepted(PERSONA_JUDGE_ITEM_V1_SIZE, PERSONA_JUDGE_ITEM_V1_SIZE), 1)
        XCTAssertEqual(persona_struct_size_accepted(PERSONA_JUDGE_ITEM_V1_SIZE + 8, PERSONA_JUDGE_ITEM_V1_SIZE), 1)
        let treeOffset = MemoryLayout<persona_host_services>.offset(of: \persona_host_services.tree_logprobs)!
        XCTAssertEqual(persona_struct_has_field(PERSONA_HOST_SERVICES_V1_SIZE, treeOffset, 8), 0)
        XCTAssertEqual(persona_struct_has_field(UInt32(MemoryLayout<persona_host_services>.size), treeOffset, 8), 1)
        XCTAssertEqual(persona_struct_has_field(4, 8, Int.max), 0, "no overflow")
        XCTAssertEqual(
            [
                PERSONA_TREE_REQUEST_V1_SIZE, PERSONA_JUDGE_ITEM_V1_SIZE, PERSONA_JUDGE_RESULT_V1_SIZE,
                PERSONA_RESIDUAL_STREAM_V1_SIZE, PERSONA_SEQUENCE_SPAN_V1_SIZE, PERSONA_CANDIDATE_PAIR_V1_SIZE
            ],
            [56, 40, 1728, 40, 28, 104])
    }
}
