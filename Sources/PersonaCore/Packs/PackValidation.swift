// Checks a trait pack against DESIGN.md "Trait packs" and reports every problem at once: name,
// description, 5 instruction pairs, 20 extraction + 20 evaluation questions with no overlap and no
// duplicates, and an eval prompt with `{question}` and `{answer}` that asks for REFUSAL or a number
// 0–100.
import Foundation

public enum PackValidation {
    public static let instructionPairCount = 5
    public static let questionsPerSet = 20

    /// Every problem of `pack` (empty when valid).
    public static func problems(_ pack: TraitPack) -> [String] {
        var problems: [String] = []
        if !isValidName(pack.name) { problems.append("name \"\(pack.name)\" must match [a-z0-9_-]+ (1–64 characters)") }
        if pack.description.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { problems.append("description is empty") }
        if let a = pack.assistantName, a.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            problems.append("assistant_name is empty (omit it to use the trait name)")
        }
        if pack.instructions.count != instructionPairCount {
            problems.append("instructions: \(pack.instructions.count) pairs, expected \(instructionPairCount)")
        }
        for (i, pair) in pack.instructions.enumerated() {
            if blank(pair.pos) { problems.append("instructions[\(i)].pos is empty") }
            if blank(pair.neg) { problems.append("instructions[\(i)].neg is empty") }
            if !blank(pair.pos) && pair.pos == pair.neg { problems.append("instructions[\(i)]: pos and neg are the same text") }
        }
        for (setName, list) in [("extraction", pack.questions.extraction), ("evaluation", pack.questions.evaluation)] {
            if list.count != questionsPerSet { problems.append("questions.\(setName): \(list.count) questions, expected \(questionsPerSet)") }
            for (i, q) in list.enumerated() where blank(q) { problems.append("questions.\(setName)[\(i)] is empty") }
            var seen: [String: Int] = [:]
            for (i, q) in list.enumerated() where !blank(q) {
                if let j = seen[normalized(q)] {
                    problems.append("questions.\(setName)[\(i)] repeats questions.\(setName)[\(j)]")
                } else {
                    seen[normalized(q)] = i
                }
            }
        }
        let evaluation = Dictionary(pack.questions.evaluation.enumerated().map { (normalized($0.element), $0.offset) }, uniquingKeysWith: { a, _ in a })
        for (i, q) in pack.questions.extraction.enumerated() where !blank(q) {
            if let j = evaluation[normalized(q)] { problems.append("questions.extraction[\(i)] is also questions.evaluation[\(j)]: the sets must not overlap") }
        }
        problems += evalPromptProblems(pack.evalPrompt)
        if let items = pack.behaviorItems { problems += behaviorItemProblems(items) }
        let texts =
            [pack.description] + pack.instructions.flatMap { [$0.pos, $0.neg] } + pack.questions.extraction + pack.questions.evaluation + [pack.evalPrompt]
            + (pack.behaviorItems ?? []).flatMap { [$0.question, $0.a, $0.b] }
        let todo = texts.filter { $0.contains("TODO:") }.count
        if todo > 0 { problems.append("\(todo) text\(todo == 1 ? "" : "s") still hold the template's \"TODO:\" (see `persona packs new`)") }
        return problems
    }

    /// Fewest two-choice items a pack may carry (when it carries any).
    public static let minimumBehaviorItems = 20
    /// Each side ("a" / "b") must show the trait in at least this share of the items, so that a
    /// model's preference for the first or second answer cannot pass for the trait.
    public static let minimumBehaviorSideShare = 0.4

    /// Problems of the behavioural items: count, empty fields, identical answers, `trait` not
    /// "a"/"b", repeated questions, and the balance of which side shows the trait.
    public static func behaviorItemProblems(_ items: [BehaviorItem]) -> [String] {
        var problems: [String] = []
        if items.count < minimumBehaviorItems {
            problems.append("behavior_items: \(items.count) items, expected at least \(minimumBehaviorItems)")
        }
        var seen: [String: Int] = [:]
        for (i, item) in items.enumerated() {
            for (field, value) in [("question", item.question), ("a", item.a), ("b", item.b)] where blank(value) {
                problems.append("behavior_items[\(i)].\(field) is empty")
            }
            if item.trait != "a" && item.trait != "b" {
                problems.append("behavior_items[\(i)].trait = \"\(item.trait.prefix(40))\": expected \"a\" or \"b\"")
            }
            if !blank(item.a) && normalized(item.a) == normalized(item.b) { problems.append("behavior_items[\(i)]: a and b are the same text") }
            if !blank(item.question) {
                if let j = seen[normalized(item.question)] {
                    problems.append("behavior_items[\(i)].question repeats behavior_items[\(j)].question")
                } else {
                    seen[normalized(item.question)] = i
                }
            }
        }
        let aCount = items.filter { $0.trait == "a" }.count, bCount = items.filter { $0.trait == "b" }.count
        if aCount + bCount > 0 {
            let share = Double(min(aCount, bCount)) / Double(aCount + bCount)
            if share < minimumBehaviorSideShare {
                problems.append(
                    "behavior_items: the trait answer is \"a\" in \(aCount) items and \"b\" in \(bCount); balance the order (each side at least \(Int(minimumBehaviorSideShare * 100)) %)"
                )
            }
        }
        return problems
    }

    /// Problems of an eval prompt alone.
    public static func evalPromptProblems(_ prompt: String) -> [String] {
        var problems: [String] = []
        if blank(prompt) { return ["eval_prompt is empty"] }
        for placeholder in ["{question}", "{answer}"] {
            let n = prompt.components(separatedBy: placeholder).count - 1
            if n == 0 { problems.append("eval_prompt has no \(placeholder) placeholder") }
            if n > 1 { problems.append("eval_prompt has \(placeholder) \(n) times (once expected)") }
        }
        if !prompt.contains("REFUSAL") { problems.append("eval_prompt does not tell the judge to answer REFUSAL when it declines") }
        if !(prompt.contains("100") && prompt.contains("0")) { problems.append("eval_prompt does not ask for a number from 0 to 100") }
        return problems
    }

    /// Throws `PackError.invalid` with every problem.
    public static func validate(_ pack: TraitPack, source: String) throws {
        let p = problems(pack)
        if !p.isEmpty { throw PackError.invalid(source: source, problems: p) }
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }
    }
    private static func blank(_ s: String) -> Bool { s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
    private static func normalized(_ s: String) -> String { s.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
}
