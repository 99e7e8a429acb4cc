// The tokenizer against Hugging Face: every `tokenize` case (ids, decoded text with and without
// special tokens), the chat-template and prompt texts → ids, streaming decode, errors.
import Foundation
import XCTest
import PersonaTestSupport
@testable import PersonaModel

enum LoadedTokenizers {
    nonisolated(unsafe) static var cache: [String: BPETokenizer] = [:]
    static func tokenizer(_ name: String) throws -> BPETokenizer {
        if let t = cache[name] { return t }
        let t = try BPETokenizer(gguf: GGUFFile(path: TestPaths.model(name)))
        cache[name] = t
        return t
    }
}

final class TokenizerTests: XCTestCase {
    let models = ["smollm2-135m", "qwen2.5-0.5b"]

    func testReferenceCases() throws {
        for name in models {
            let tokenizer = try LoadedTokenizers.tokenizer(name)
            let reference = try Reference.load(name)
            for c in try reference.json.dict("tokenize").cases("cases", in: "\(name) tokenize") {
                let text = c.string("text") ?? ""
                let ids = tokenizer.encode(text)
                XCTAssertEqual(ids, c.ints("ids"), "\(name): \(text.debugDescription)")
                XCTAssertEqual(tokenizer.decode(c.ints("ids")), c.string("decoded"), "\(name) decode: \(text.debugDescription)")
                XCTAssertEqual(tokenizer.decode(c.ints("ids"), skipSpecialTokens: true), c.string("decoded_skip_special"), "\(name) skip special")
            }
        }
    }

    /// The n log n merge gives exactly what the plain quadratic loop gives: on every reference text's
    /// words and on seeded random words (letters from a small alphabet, so that many merges apply).
    func testHeapMergeMatchesTheQuadraticLoop() throws {
        for name in models {
            let tokenizer = try LoadedTokenizers.tokenizer(name)
            var words: [[UInt8]] = []
            for c in try Reference.load(name).json.dict("tokenize").cases("cases", in: "\(name) tokenize") {
                words += (c.string("text") ?? "").split(separator: " ").map { Array(" \($0)".utf8) }
            }
            var state: UInt64 = 0x9E3779B97F4A7C15
            func random(_ n: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int((state >> 33) % UInt64(n)) }
            let alphabet = Array("aeinrst lo".utf8) + Array("é€".utf8)
            for _ in 0..<2000 { words.append((0..<(1 + random(40))).map { _ in alphabet[random(alphabet.count)] }) }
            words.append(Array(repeating: UInt8(ascii: "a"), count: 1001))
            XCTAssertGreaterThan(words.count, 2000)
            for word in words { XCTAssertEqual(tokenizer.bpe.encode(word), tokenizer.bpe.encodeQuadratic(word), "\(name): \(word)") }
        }
    }

    /// One 1 MiB word (what anyone can send to `persona serve`) tokenizes in well under 2 s, and the
    /// word cache does not keep it.
    func testOneMebibyteWordIsFast() throws {
        for name in models {
            let tokenizer = try LoadedTokenizers.tokenizer(name)
            var state: UInt64 = 42
            let letters = Array("abcdefghijklmnopqrstuvwxyz".utf8)
            let word = String(
                decoding: (0..<(1 << 20)).map { _ -> UInt8 in
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    return letters[Int((state >> 33) % 26)]
                }, as: UTF8.self)
            let before = tokenizer.cachedBytes
            // This thread's CPU time, not the wall clock: other processes on shared cores do not
            // count. Linear BPE takes well under a second; the quadratic merge loop it replaced
            // took minutes, so the bound is generous without being vacuous.
            let start = threadCPUSeconds()
            let ids = tokenizer.encode(word)
            let seconds = threadCPUSeconds() - start
            print("\(name): 1 MiB word -> \(ids.count) tokens in \(String(format: "%.2f", seconds)) s of CPU")
            XCTAssertLessThan(seconds, 20, name)
            XCTAssertEqual(tokenizer.decode(ids), word)
            XCTAssertLessThan(tokenizer.cachedBytes - before, 1024, "\(name): the long word was cached")
            XCTAssertLessThanOrEqual(tokenizer.cachedBytes, BPETokenizer.cacheByteBudget)
        }
    }

    func testPromptTextsFromEverySection() throws {
        for name in models {
            let tokenizer = try LoadedTokenizers.tokenizer(name)
            let r = try Reference.load(name).json
            for c in try r.dict("chat_template").cases("cases", in: "\(name) chat_template") {
                XCTAssertEqual(tokenizer.encode(c.string("text") ?? ""), c.ints("ids"), "\(name) chat template case")
            }
            for p in try r.dict("forward").cases("prompts", in: "\(name) forward") {
                XCTAssertEqual(tokenizer.encode(p.string("text") ?? ""), p.ints("input_ids"), "\(name) forward prompt")
            }
            XCTAssertEqual(tokenizer.encode(r.dict("greedy").string("prompt_text") ?? ""), r.dict("greedy").ints("prompt_ids"))
            let steering = r.dict("steering")
            XCTAssertEqual(tokenizer.encode(steering.string("prompt_text") ?? ""), steering.ints("prompt_ids"))
            XCTAssertEqual(tokenizer.encode(steering.dict("vector").string("evil_text") ?? ""), steering.dict("vector").ints("evil_ids"))
            XCTAssertEqual(tokenizer.decode(r.dict("greedy").dict("no_stop").ints("ids")), r.dict("greedy").dict("no_stop").string("text"))
        }
    }

    func testStreamingDecoderWaitsForWholeCharacters() throws {
        let tokenizer = try LoadedTokenizers.tokenizer("smollm2-135m")
        let text = "Emoji 😀 and 中文 and é."
        let ids = tokenizer.encode(text)
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        var pieces: [String] = []
        for id in ids { pieces.append(decoder.append(id)) }
        pieces.append(decoder.finish())
        XCTAssertEqual(pieces.joined(), text)
        XCTAssertFalse(pieces.contains { $0.contains("\u{FFFD}") }, "no replacement characters mid-stream: \(pieces)")
        XCTAssertTrue(ids.count > text.count / 3)
    }

    func testUnknownPreTokenizerIsAnError() throws {
        var data = TokenizerData(tokens: [], tokenTypes: [], merges: [], preTokenizer: .gpt2, source: "t")
        XCTAssertThrowsError(try BPETokenizer(data))
        XCTAssertNil(PreTokenizerKind(name: "mystery"))
        data.tokens = [Array("a".utf8)]
        XCTAssertThrowsError(try BPETokenizer(data)) { XCTAssert("\($0)".contains("no token for byte")) }
        let e = TokenizerError.unknownPreTokenizer(source: "m.gguf", name: "mystery")
        XCTAssert(e.description.contains("mystery") && e.description.contains("qwen2"))
    }

    /// Found by Fuzz/TokenizerFuzz: one vocabulary id near 2^22 made 4 million placeholder tokens
    /// (seconds of work); an id past the entries the file lists is an error naming it.
    func testTokenizerJSONIdOutOfRangeIsAnError() throws {
        let json = #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 4000000}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}"#
        // The error is raised while reading the vocabulary, before any placeholder is made.
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: Data(json.utf8), source: "t/tokenizer.json")) { error in
            XCTAssertEqual(
                error as? TokenizerError,
                .badField(
                    source: "t/tokenizer.json", field: "id of \"b\"",
                    reason: "4000000 is out of range: the file lists 2 tokens (ids 0..<2)"))
        }
        let added =
            #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": -1, "content": "<s>"}], "pre_tokenizer": {"type": "ByteLevel"}}"#
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: Data(added.utf8), source: "t/tokenizer.json")) {
            XCTAssert("\($0)".contains("-1 is out of range"))
        }
    }

    func testEncodingSpeed() throws {
        let tokenizer = try LoadedTokenizers.tokenizer("qwen2.5-0.5b")
        let text = String(repeating: "The quick brown fox jumps over the lazy dog 12345. ", count: 2000)
        let start = Date()
        let ids = tokenizer.encode(text)
        XCTAssertGreaterThan(ids.count, 10_000)
        XCTAssertEqual(tokenizer.decode(ids), text)
        print("encoded \(text.utf8.count) bytes in \(Date().timeIntervalSince(start)) s")
    }
}

/// CPU seconds this thread has used (unaffected by other processes sharing the cores).
func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}
