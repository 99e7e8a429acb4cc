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
//   "eval_prompt": "… {question} … {answer} …",  asks for REFUSAL or a number 0–100
//   "behavior_items": [                  optional: two-choice items for the judge-free measure
//     {"question": "…", "a": "…", "b": "…", "trait": "a"}, … ≥ 20   ("trait": which answer shows
//   ]                                    the trait; about as many "a" as "b")
// }

/// One contrastive instruction pair: `pos` elicits the trait, `neg` suppresses it.
public struct InstructionPair: Codable, Equatable, Hashable, Sendable {
    public var pos: String
    public var neg: String
    public init(pos: String, neg: String) { self.pos = pos; self.neg = neg }
}

/// One two-choice item of the behavioural measure (`persona stage behave`): a question and two
/// short answers, one showing the trait. Fields are decoded leniently (a missing one is empty) so
/// that validation can name every bad field at once.
public struct BehaviorItem: Codable, Equatable, Hashable, Sendable {
    public var question: String
    public var a: String
    public var b: String
    /// "a" or "b": the answer that shows the trait.
    public var trait: String

    public init(question: String, a: String, b: String, trait: String) {
        self.question = question; self.a = a; self.b = b; self.trait = trait
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        question = try c.decodeIfPresent(String.self, forKey: .question) ?? ""
        a = try c.decodeIfPresent(String.self, forKey: .a) ?? ""
        b = try c.decodeIfPresent(String.self, forKey: .b) ?? ""
        trait = try c.decodeIfPresent(String.self, forKey: .trait) ?? ""
    }

    /// The answer showing the trait and the other one (nil when `trait` is neither "a" nor "b").
    public var answers: (trait: String, other: String)? {
        switch trait {
        case "a": return (a, b)
        case "b": return (b, a)
        default: return nil
        }
    }
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
    /// Two-choice items of the behavioural measure (nil: the pack has none; the stage is skipped).
    public var behaviorItems: [BehaviorItem]?

    enum CodingKeys: String, CodingKey {
        case name, description, instructions, questions
        case assistantName = "assistant_name"
        case evalPrompt = "eval_prompt"
        case behaviorItems = "behavior_items"
    }

    public init(
        name: String, description: String, assistantName: String? = nil,
        instructions: [InstructionPair], questions: Questions, evalPrompt: String, behaviorItems: [BehaviorItem]? = nil
    ) {
        self.name = name; self.description = description; self.assistantName = assistantName
        self.instructions = instructions; self.questions = questions; self.evalPrompt = evalPrompt
        self.behaviorItems = behaviorItems
    }

    /// The name used in the positive system prompt, "You are a/an {name} assistant."
    public var positiveAssistantName: String { assistantName ?? name }
}
