// A tokenizer from GGUF metadata (`tokenizer.ggml.*`). No normalizer is applied, as Hugging Face
// does when it builds a tokenizer from a GGUF file.

extension BPETokenizer {
    public convenience init(gguf file: GGUFFile) throws {
        let model = try file.requiredString("tokenizer.ggml.model")
        guard model == "gpt2" else { throw TokenizerError.unknownModel(source: file.path, name: model) }
        guard let tokens = file.stringArray("tokenizer.ggml.tokens") else {
            throw TokenizerError.missingField(source: file.path, field: "tokenizer.ggml.tokens")
        }
        guard let merges = file.stringArray("tokenizer.ggml.merges") else {
            throw TokenizerError.missingField(source: file.path, field: "tokenizer.ggml.merges")
        }
        let preName = file.string("tokenizer.ggml.pre") ?? "default"
        guard let pre = PreTokenizerKind(name: preName) else { throw TokenizerError.unknownPreTokenizer(source: file.path, name: preName) }
        func id(_ key: String) throws -> Int? {
            guard let v = file.int(key) else { return nil }
            guard v >= 0 && v < tokens.count else {
                throw TokenizerError.badField(source: file.path, field: key, reason: "\(v) is outside the vocabulary of \(tokens.count)")
            }
            return v
        }
        try self.init(
            TokenizerData(
                tokens: tokens, tokenTypes: file.intArray("tokenizer.ggml.token_type") ?? [], merges: merges,
                preTokenizer: pre, normalizeNFC: false,
                bosTokenID: try id("tokenizer.ggml.bos_token_id"), eosTokenID: try id("tokenizer.ggml.eos_token_id"),
                padTokenID: try id("tokenizer.ggml.padding_token_id"),
                addBOS: file.bool("tokenizer.ggml.add_bos_token") ?? false, source: file.path))
    }
}
