// A tokenizer from a Hugging Face `tokenizer.json` (BPE model, ByteLevel pre-tokenizer). The
// pre-tokenizer's split regex is mapped to one of our named pre-tokenizers; an unknown regex is an
// error naming it. The normalizer is applied as declared (NFC or none).
import Foundation

extension BPETokenizer {
    /// Known split regexes of byte-level tokenizers.
    static let knownPatterns: [String: PreTokenizerKind] = [
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+": .gpt2,
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": .qwen2,
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": .llama3
    ]

    public convenience init(tokenizerJSON url: URL, bosToken: String? = nil, eosToken: String? = nil) throws {
        guard let data = try? Data(contentsOf: url) else { throw FileError.cannotOpen(path: url.path, reason: "unreadable") }
        try self.init(tokenizerJSON: data, source: url.path, bosToken: bosToken, eosToken: eosToken)
    }

    /// Parses tokenizer.json text; `source` names the file in errors.
    public convenience init(tokenizerJSON data: Data, source: String, bosToken: String? = nil, eosToken: String? = nil) throws {
        let root: [String: JSONValue]
        do {
            guard let r = try JSONValue.parse(data).object else {
                throw TokenizerError.badField(source: source, field: "(document)", reason: "not a JSON object")
            }
            root = r
        } catch let e as TokenizerError { throw e } catch {
            throw TokenizerError.badField(source: source, field: "(document)", reason: "invalid JSON: \(error)")
        }
        guard let model = root["model"]?.object else { throw TokenizerError.missingField(source: source, field: "model") }
        let type = model["type"]?.string ?? "BPE"
        guard type == "BPE" else { throw TokenizerError.unknownModel(source: source, name: type) }
        guard let vocab = model["vocab"]?.object else { throw TokenizerError.missingField(source: source, field: "model.vocab") }
        var tokens = [[UInt8]?](repeating: nil, count: vocab.count)
        var types = [Int](repeating: 1, count: vocab.count)
        // Ids index a dense table: none may pass the number of entries the file lists (a single huge
        // id would otherwise make millions of placeholder tokens).
        let entryCount = vocab.count + (root["added_tokens"]?.array?.count ?? 0)
        func place(_ text: String, _ id: Int, type: Int) throws {
            guard id >= 0, id < entryCount else {
                throw TokenizerError.badField(
                    source: source, field: "id of \"\(text.prefix(60))\"",
                    reason: "\(id) is out of range: the file lists \(entryCount) tokens (ids 0..<\(entryCount))")
            }
            if id >= tokens.count { tokens += Array(repeating: nil, count: id + 1 - tokens.count); types += Array(repeating: 1, count: id + 1 - types.count) }
            tokens[id] = Array(text.utf8)
            types[id] = type
        }
        for (text, value) in vocab {
            guard let id = value.int else { throw TokenizerError.badField(source: source, field: "model.vocab[\"\(text)\"]", reason: "not an integer") }
            try place(text, id, type: 1)
        }
        for item in root["added_tokens"]?.array ?? [] {
            guard let o = item.object, let content = o["content"]?.string, let id = o["id"]?.int else {
                throw TokenizerError.badField(source: source, field: "added_tokens", reason: "entry without content and id")
            }
            try place(content, id, type: (o["special"]?.bool ?? false) ? 3 : 4)
        }
        let filled = tokens.enumerated().map { $0.element ?? Array("[UNUSED\($0.offset)]".utf8) }
        var merges: [[UInt8]] = []
        for (i, m) in (model["merges"]?.array ?? []).enumerated() {
            if let s = m.string {
                merges.append(Array(s.utf8))
            } else if let pair = m.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string {
                merges.append(Array((a + " " + b).utf8))
            } else {
                throw TokenizerError.badMerge(source: source, index: i, merge: m.summary)
            }
        }
        // Pre-tokenizer: a Split with a known regex (possibly inside a Sequence), or a bare ByteLevel (GPT-2's regex).
        let pre = try BPETokenizer.preTokenizer(root["pre_tokenizer"], source: source)
        var nfc = false
        if let normalizer = root["normalizer"], normalizer != .null {
            let kinds = (normalizer.object?["normalizers"]?.array ?? [normalizer]).compactMap { $0.object?["type"]?.string }
            for k in kinds {
                guard k == "NFC" else { throw TokenizerError.badField(source: source, field: "normalizer", reason: "\(k) is not supported (NFC or none)") }
                nfc = true
            }
        }
        func idOf(_ text: String?) -> Int? { text.flatMap { t in filled.firstIndex(of: Array(t.utf8)) } }
        try self.init(
            TokenizerData(
                tokens: filled, tokenTypes: types, merges: merges, preTokenizer: pre, normalizeNFC: nfc,
                bosTokenID: idOf(bosToken), eosTokenID: idOf(eosToken), addBOS: false, source: source))
    }

    static func preTokenizer(_ value: JSONValue?, source: String) throws -> PreTokenizerKind {
        guard let o = value?.object else { throw TokenizerError.missingField(source: source, field: "pre_tokenizer") }
        switch o["type"]?.string {
        case "Sequence":
            for item in o["pretokenizers"]?.array ?? [] where item.object?["type"]?.string == "Split" {
                return try preTokenizer(item, source: source)
            }
            return .gpt2
        case "Split":
            let pattern = o["pattern"]?.object?["Regex"]?.string ?? o["pattern"]?.object?["String"]?.string ?? ""
            guard let kind = knownPatterns[pattern] else { throw TokenizerError.unknownPreTokenizer(source: source, name: pattern) }
            return kind
        case "ByteLevel":
            return .gpt2
        case let other:
            throw TokenizerError.unknownPreTokenizer(source: source, name: other ?? "(none)")
        }
    }
}
