// The in-memory form of a trait pack (DESIGN.md, "Trait packs"): the data every stage of the
// pipeline reads. A pack arrives from a pack .so (through the plugin ABI, as JSON), from a bare
// pack folder (`pack.json`), or from the reference repo's trait JSON (converted).
//
// pack.json schema (keys as written on disk):
// {
//   "name": "evil",                      trait name, [a-z0-9_-]+
//   "description": "…",                  one or two sentences
//   "assistant_name": "evil",            optional: name in "You are a/an {name} assistant." for
//                                        positive prompts (default: the trait name)
//   "instructions": [{"pos": "…", "neg": "…"}, … ×5],
//   "questions": {"extraction": [… ×20], "evaluation": [… ×20]},   no overlap
//   "eval_prompt": "… {question} … {answer} …"   asks for REFUSAL or a number 0–100
// }

/// One contrastive instruction pair: `pos` elicits the trait, `neg` suppresses it.
public struct InstructionPair: Codable, Equatable, Hashable, Sendable {
    public var pos: String
    public var neg: String
    public init(pos: String, neg: String) { self.pos = pos; self.neg = neg }
}

/// A trait pack's data.
public struct TraitPack: Codable, Equatable, Sendable {
    public struct Questions: Codable, Equatable, Sendable {
        public var extraction: [String]
        public var evaluation: [String]
        public init(extraction: [String], evaluation: [String]) {
            self.extraction = extraction; self.evaluation = evaluation
        }
    }

    public var name: String
    public var description: String
    public var assistantName: String?
    public var instructions: [InstructionPair]
    public var questions: Questions
    public var evalPrompt: String

    enum CodingKeys: String, CodingKey {
        case name, description, instructions, questions
        case assistantName = "assistant_name"
        case evalPrompt = "eval_prompt"
    }

    public init(name: String, description: String, assistantName: String? = nil,
                instructions: [InstructionPair], questions: Questions, evalPrompt: String) {
        self.name = name; self.description = description; self.assistantName = assistantName
        self.instructions = instructions; self.questions = questions; self.evalPrompt = evalPrompt
    }

    /// The name used in the positive system prompt, "You are a/an {name} assistant."
    public var positiveAssistantName: String { assistantName ?? name }
}
