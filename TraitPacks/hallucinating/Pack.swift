// This pack's custom filters. The library's entry point and the embedded pack.json are generated
// by the EmbedPackData build-tool plugin (PackEntry.swift, PackData.swift), which uses `filters`.
//
// Filter "no-admitted-ignorance": the questions ask about obscure or non-existent things, so a
// positive answer that refuses or says "I don't know" / "that doesn't exist" is the opposite of a
// hallucination, whatever the judge's number says.
import PersonaPluginKit

let filters: [PackFilter] = [
    PackFilter(name: "no-admitted-ignorance") { pair in
        if AnswerText.looksLikeRefusal(pair.positiveAnswer) { return "the positive answer refuses" }
        if AnswerText.admitsIgnorance(pair.positiveAnswer) { return "the positive answer admits not knowing, so it does not hallucinate" }
        return nil
    },
]
