// Vectors from written contrast (`--source written`): no system prompt, no sampling, no judge.
// Each of a pack's two-choice behaviour items is a question with a trait-showing answer and another
// answer, both written by the pack's author. Both are teacher-forced as the assistant's reply to the
// question (asked alone through the chat template) and the vector is, per layer,
//
//     v_L = mean over extraction items of mean_{answer tokens} h_L(trait answer)
//         − mean over extraction items of mean_{answer tokens} h_L(other answer)
//
// the response average of the prompted method, applied to written answers. This captures the trait
// as text rather than "obey the system prompt", which matters on a safety-tuned subject that will
// not play a persona (qwen2.5-0.5b, the default subject: BENCHMARKS.md).
//
// The items are split into two disjoint halves, so the behavioural measure that judges a vector is
// never computed on the items that made it: extraction = even positions in the pack's list,
// measurement = odd positions. Position parity is deterministic, needs no seed, and interleaves
// whatever order the author wrote the items in.
import Foundation
import PersonaModel

public enum WrittenContrast {
    /// The method name of a written-contrast vector (run store, vector files).
    public static let method = "written_response_avg"

    /// The extraction half of a pack's behaviour items (indices into `behavior_items`), or a clear
    /// error when the pack has too few for both halves.
    public static func extractionIndices(of pack: TraitPack) throws -> [Int] {
        let count = pack.behaviorItems?.count ?? 0
        let extraction = split(count: count).extraction
        guard !extraction.isEmpty, extraction.count < count else {
            throw PipelineError.packTooSmall(trait: pack.name, field: "behavior_items", count: count, needed: 2)
        }
        return extraction
    }

    /// A written-contrast vector as a vector file: every writer of one (`persona run`, `persona
    /// search --out`) sets the same metadata.
    public static func file(rows: [[Float]], trait: String, model: LanguageModel, extractionIndices: [Int]) -> TraitVectors {
        TraitVectors(
            rows: rows,
            metadata: model.vectorMetadata([
                "persona.trait": trait, "persona.method": method,
                "persona.source": "written", "persona.items": extractionIndices.map(String.init).joined(separator: ","),
                "persona.layers": "block-output"
            ]))
    }

    /// Indices of the extraction half and of the measurement half of `count` items (disjoint, covering all).
    public static func split(count: Int) -> (extraction: [Int], measurement: [Int]) {
        let all = Array(0..<max(count, 0))
        return (all.filter { $0 % 2 == 0 }, all.filter { $0 % 2 == 1 })
    }

    /// The prompt (question alone, generation prompt) and answer tokens of one written answer; the
    /// boundary is the tokenized prompt's length (DESIGN.md, "Response tokens").
    public static func sequence(question: String, answer: String, model: LanguageModel) throws -> TeacherForcedSequence {
        let promptText = try model.renderChat([ChatMessage(role: "user", content: question)])
        let prompt = model.tokenizer.encode(promptText)
        let full = model.tokenizer.encode(promptText + answer)
        if full.count > prompt.count, full.starts(with: prompt) {
            return TeacherForcedSequence(promptTokens: prompt, answerTokens: Array(full[prompt.count...]))
        }
        return TeacherForcedSequence(promptTokens: prompt, answerTokens: model.tokenizer.encode(answer))
    }

    /// Mean hidden state over the answer tokens, `[sequence][layer][hidden]`, one unsteered pass per batch.
    public static func answerMeans(_ sequences: [TeacherForcedSequence], transformer: Transformer, batchSize: Int = 8) throws -> [[[Float]]] {
        var out: [[[Float]]] = []
        var start = 0
        while start < sequences.count {
            let end = min(start + max(batchSize, 1), sequences.count)
            let capture = ActivationCaptureHook(config: transformer.config)
            var inputs: [SequenceInput] = []
            for i in start..<end {
                let s = sequences[i]
                guard !s.answerTokens.isEmpty else { throw TransformerError.badBatch(reason: "written answer \(i) has no tokens") }
                capture.expect(id: i, promptLength: s.promptTokens.count)
                inputs.append(SequenceInput(tokens: s.promptTokens + s.answerTokens, cache: transformer.makeCache(), id: i))
            }
            try transformer.withHooks([capture]) { _ = try transformer.forward(inputs, logits: .none) }
            for i in start..<end {
                guard let summary = capture.summary(for: i) else { throw TransformerError.badBatch(reason: "written answer \(i) was not captured") }
                out.append(summary.responseMean)
            }
            start = end
        }
        return out
    }

    /// The written-contrast vector of `items` (the caller passes the extraction half), `[layers][hidden]`.
    public static func vectors(items: [BehaviorItem], model: LanguageModel, batchSize: Int = 8) throws -> [[Float]] {
        var positive: [TeacherForcedSequence] = [], negative: [TeacherForcedSequence] = []
        for (i, item) in items.enumerated() {
            guard let (traitAnswer, otherAnswer) = item.answers else {
                throw PackError.invalid(source: "behavior_items", problems: ["behavior_items[\(i)].trait = \"\(item.trait)\": expected \"a\" or \"b\""])
            }
            positive.append(try sequence(question: item.question, answer: traitAnswer, model: model))
            negative.append(try sequence(question: item.question, answer: otherAnswer, model: model))
        }
        return Pipeline.meanDifference(
            positive: try answerMeans(positive, transformer: model.transformer, batchSize: batchSize),
            negative: try answerMeans(negative, transformer: model.transformer, batchSize: batchSize))
    }
}
