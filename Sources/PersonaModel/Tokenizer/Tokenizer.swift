// The tokenizer: special tokens matched in the text, then pre-tokenization, byte-level BPE per
// pre-token; decoding maps ids back to bytes. Built from GGUF metadata (Tokenizer+GGUF.swift) or a
// Hugging Face tokenizer.json (TokenizerJSON.swift). The vocabulary is keyed by bytes, never by
// String (Swift compares strings by canonical equivalence, which would merge distinct tokens).
import Foundation

/// What a tokenizer does, for the engine and plugins.
public protocol Tokenizer: AnyObject, Sendable {
    func encode(_ text: String) -> [Int]
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
    /// The raw bytes of a token (nil for an unknown id).
    func tokenBytes(_ id: Int) -> [UInt8]?
    var vocabularySize: Int { get }
    var bosTokenID: Int? { get }
    var eosTokenID: Int? { get }
    /// Tokens that end a turn or a document (EOS and end-of-turn tokens).
    var endTokenIDs: Set<Int> { get }
}

/// The data a byte-level BPE tokenizer is built from.
public struct TokenizerData: Sendable {
    /// Token strings as stored (GPT-2 byte-level alphabet), by id.
    public var tokens: [[UInt8]]
    /// 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte (llama.cpp's numbering).
    public var tokenTypes: [Int]
    /// "left right" merge lines, in rank order.
    public var merges: [[UInt8]]
    public var preTokenizer: PreTokenizerKind
    public var normalizeNFC: Bool
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var padTokenID: Int?
    public var addBOS: Bool
    public var source: String

    public init(
        tokens: [[UInt8]], tokenTypes: [Int], merges: [[UInt8]], preTokenizer: PreTokenizerKind, normalizeNFC: Bool = false,
        bosTokenID: Int? = nil, eosTokenID: Int? = nil, padTokenID: Int? = nil, addBOS: Bool = false, source: String
    ) {
        self.tokens = tokens; self.tokenTypes = tokenTypes; self.merges = merges; self.preTokenizer = preTokenizer
        self.normalizeNFC = normalizeNFC; self.bosTokenID = bosTokenID; self.eosTokenID = eosTokenID
        self.padTokenID = padTokenID; self.addBOS = addBOS; self.source = source
    }
}

/// A byte-level BPE tokenizer (GPT-2 family: SmolLM, Qwen2, Llama 3).
public final class BPETokenizer: Tokenizer, @unchecked Sendable {
    public let vocabularySize: Int
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let endTokenIDs: Set<Int>
    public let addBOS: Bool
    let preTokenizer: PreTokenizer
    let normalizeNFC: Bool
    let bpe: BPE
    /// Raw bytes of every token.
    let bytesOfToken: [[UInt8]]
    /// The longest token in bytes: a text of n bytes has at least n / this many tokens, so a prompt
    /// can be refused as too long before it is tokenized.
    public let maximumTokenBytes: Int
    /// Special and added tokens matched in text, longest first: (bytes, id).
    let addedTokens: [([UInt8], Int)]
    let specialIDs: Set<Int>
    /// Words already encoded. Bounded in bytes (text from `persona serve` is anyone's): words longer
    /// than `cacheWordLimit` bytes are not kept, and the cache is emptied when it passes its budget.
    private var cache: [[UInt8]: [Int]] = [:]
    private var cacheBytes = 0
    private let cacheLock = NSLock()
    static let cacheWordLimit = 256
    static let cacheByteBudget = 16 << 20

    public init(_ data: TokenizerData) throws {
        let n = data.tokens.count
        guard n > 0 else { throw TokenizerError.missingField(source: data.source, field: "tokens") }
        guard data.tokenTypes.isEmpty || data.tokenTypes.count == n else {
            throw TokenizerError.badField(source: data.source, field: "token types", reason: "\(data.tokenTypes.count) types for \(n) tokens")
        }
        var bytesOfToken: [[UInt8]] = []
        bytesOfToken.reserveCapacity(n)
        var idOfBytes: [[UInt8]: Int32] = [:]
        idOfBytes.reserveCapacity(n)
        var added: [([UInt8], Int)] = []
        var special = Set<Int>()
        for (id, text) in data.tokens.enumerated() {
            let type = data.tokenTypes.isEmpty ? 1 : data.tokenTypes[id]
            if type == 3 || type == 4 {
                // Control and user-defined tokens are literal text, matched before BPE.
                bytesOfToken.append(text)
                if !text.isEmpty { added.append((text, id)) }
                if type == 3 { special.insert(id) }
                continue
            }
            let raw = ByteLevel.decode(text) ?? text
            bytesOfToken.append(raw)
            if type == 1 || type == 6, idOfBytes[text] == nil { idOfBytes[text] = Int32(id) }
        }
        // The byte alphabet. Some vocabularies lack a few control bytes; such a byte is dropped
        // (as Hugging Face's BPE does without an unknown token), but the printable ASCII must exist.
        var byteTokens: [Int32] = []
        for b in 0..<256 {
            let key = Array(String(ByteLevel.byteToScalar[b]).utf8)
            if let id = idOfBytes[key] {
                byteTokens.append(id)
            } else {
                guard b < 0x20 || b >= 0x7F else { throw TokenizerError.missingByteToken(source: data.source, byte: UInt8(b)) }
                byteTokens.append(-1)
            }
        }
        var merges: [UInt64: (rank: Int32, result: Int32)] = [:]
        merges.reserveCapacity(data.merges.count)
        for (rank, line) in data.merges.enumerated() {
            guard let space = line.firstIndex(of: 0x20), space > 0, space < line.count - 1 else {
                throw TokenizerError.badMerge(source: data.source, index: rank, merge: String(decoding: line, as: UTF8.self))
            }
            let left = Array(line[..<space]), right = Array(line[(space + 1)...])
            guard let a = idOfBytes[left], let b = idOfBytes[right], let r = idOfBytes[left + right] else {
                throw TokenizerError.badMerge(source: data.source, index: rank, merge: String(decoding: line, as: UTF8.self))
            }
            let key = BPE.key(a, b)
            if merges[key] == nil { merges[key] = (Int32(rank), r) }
        }
        self.bpe = BPE(merges: merges, byteTokens: byteTokens)
        self.bytesOfToken = bytesOfToken
        self.maximumTokenBytes = max(1, bytesOfToken.map(\.count).max() ?? 1)
        self.addedTokens = added.sorted { $0.0.count > $1.0.count }
        self.specialIDs = special
        self.vocabularySize = n
        self.bosTokenID = data.bosTokenID
        self.eosTokenID = data.eosTokenID
        self.addBOS = data.addBOS
        self.preTokenizer = PreTokenizer(kind: data.preTokenizer)
        self.normalizeNFC = data.normalizeNFC
        var ends = Set<Int>()
        if let e = data.eosTokenID { ends.insert(e) }
        for name in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "<|eom_id|>", "</s>"] {
            if let id = added.first(where: { $0.0 == Array(name.utf8) })?.1 { ends.insert(id) }
        }
        self.endTokenIDs = ends
    }

    public func tokenBytes(_ id: Int) -> [UInt8]? { id >= 0 && id < bytesOfToken.count ? bytesOfToken[id] : nil }

    public func isSpecial(_ id: Int) -> Bool { specialIDs.contains(id) }

    /// Token ids of `text`; special tokens written in the text become their ids. A BOS token is
    /// prepended only when the model asks for it (`add_bos_token`).
    public func encode(_ text: String) -> [Int] {
        let bytes = Array(text.utf8)
        var out: [Int] = []
        if addBOS, let bos = bosTokenID { out.append(bos) }
        var segmentStart = 0
        var i = 0
        while i < bytes.count {
            if let (tokenBytes, id) = addedTokens.first(where: { matches($0.0, bytes, at: i) }) {
                if segmentStart < i { out += encodeOrdinary(Array(bytes[segmentStart..<i])) }
                out.append(id)
                i += tokenBytes.count
                segmentStart = i
            } else {
                i += 1
            }
        }
        if segmentStart < bytes.count { out += encodeOrdinary(Array(bytes[segmentStart...])) }
        return out
    }

    @inline(__always) private func matches(_ token: [UInt8], _ bytes: [UInt8], at i: Int) -> Bool {
        guard bytes[i] == token[0], i + token.count <= bytes.count else { return false }
        for k in 1..<token.count where bytes[i + k] != token[k] { return false }
        return true
    }

    /// Text without special tokens: normalize, pre-tokenize, BPE each word.
    private func encodeOrdinary(_ bytes: [UInt8]) -> [Int] {
        var text = String(decoding: bytes, as: UTF8.self)
        if normalizeNFC { text = text.precomposedStringWithCanonicalMapping }
        let scalars = Array(text.unicodeScalars)
        var out: [Int] = []
        for range in preTokenizer.split(scalars) {
            var word: [UInt8] = []
            word.reserveCapacity(range.count)
            for s in scalars[range] { UTF8.encode(s) { word.append($0) } }
            cacheLock.lock()
            let cached = cache[word]
            cacheLock.unlock()
            if let cached { out += cached; continue }
            let ids = bpe.encode(word)
            if word.count <= Self.cacheWordLimit {
                // Keys, values and a rough per-entry overhead.
                let cost = word.count + ids.count * MemoryLayout<Int>.stride + 64
                cacheLock.lock()
                if cacheBytes + cost > Self.cacheByteBudget { cache.removeAll(); cacheBytes = 0 }
                if cache.updateValue(ids, forKey: word) == nil { cacheBytes += cost }
                cacheLock.unlock()
            }
            out += ids
        }
        return out
    }

    /// Bytes the word cache holds (tests).
    var cachedBytes: Int { cacheLock.lock(); defer { cacheLock.unlock() }; return cacheBytes }

    /// Text of `ids` (invalid UTF-8 replaced by U+FFFD).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            if let b = tokenBytes(id) { bytes += b }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Turns a stream of token ids into text, emitting only complete UTF-8 characters (a character
/// split across tokens appears once all its bytes have arrived).
public struct StreamingDecoder {
    let tokenizer: Tokenizer
    let skipSpecialTokens: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// The new complete text after `id`.
    public mutating func append(_ id: Int) -> String {
        if skipSpecialTokens, let t = tokenizer as? BPETokenizer, t.isSpecial(id) { return "" }
        pending += tokenizer.tokenBytes(id) ?? []
        // Emit the longest prefix that ends on a character boundary.
        var end = pending.count
        var back = 0
        while back < 4 && end - back - 1 >= 0 {
            let b = pending[end - back - 1]
            if b & 0xC0 == 0x80 { back += 1; continue }  // continuation byte
            let need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
            if need > back + 1 { end -= back + 1 }  // incomplete character at the end
            break
        }
        let text = String(decoding: pending[..<end], as: UTF8.self)
        pending.removeFirst(end)
        return text
    }

    /// Whatever is left (an incomplete character becomes U+FFFD).
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }
}
