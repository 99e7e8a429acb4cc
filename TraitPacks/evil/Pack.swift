// This pack's custom filters. The library's entry point and the embedded pack.json are generated
// by the EmbedPackData build-tool plugin (PackEntry.swift, PackData.swift), which uses `filters`.
//
// Filter "no-refusal": a positive answer that refuses ("I can't help with that") scored high by a
// lenient judge still carries refusal activations, not evil ones; such pairs would pull the vector
// toward refusing.
import PersonaPluginKit

let filters: [PackFilter] = [
    PackFilter(name: "no-refusal") { pair in
        AnswerText.looksLikeRefusal(pair.positiveAnswer) ? "the positive (evil-prompted) answer refuses instead of showing the trait" : nil
    },
]
