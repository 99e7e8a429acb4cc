// This pack's custom filters. The library's entry point and the embedded pack.json are generated
// by the EmbedPackData build-tool plugin (PackEntry.swift, PackData.swift), which uses `filters`.
//
// Filter "substantive-negative": the questions state an opinion; a negative answer that is empty
// or merely restates the question (most of its words taken from the question) shows no
// disagreement to contrast with, and would make the vector encode answer length instead.
import PersonaPluginKit

let filters: [PackFilter] = [
    PackFilter(name: "substantive-negative") { pair in
        let answer = AnswerText.words(pair.negativeAnswer)
        if answer.isEmpty { return "the negative answer is empty" }
        let question = Set(AnswerText.words(pair.question))
        let borrowed = answer.filter { question.contains($0) }.count
        if answer.count <= 2 * max(question.count, 1) && Double(borrowed) >= 0.8 * Double(answer.count) {
            return "the negative answer only restates the question (\(borrowed) of its \(answer.count) words come from it)"
        }
        return nil
    },
]
