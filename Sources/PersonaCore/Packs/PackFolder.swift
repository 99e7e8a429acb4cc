// Reads a bare trait pack: a folder holding pack.json, or a pack.json file (schema in
// TraitPack.swift). Packs come from outside: every problem is an error naming the file, the field
// and what was wrong.
import Foundation

public enum PackFolderError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case badJSON(path: String, reason: String)
    case missingField(path: String, field: String)
    case wrongType(path: String, field: String, expected: String)
    case badValue(path: String, field: String, value: String, expected: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read the trait pack: \(reason)"
        case let .badJSON(path, reason): return "\(path): not valid JSON: \(reason)"
        case let .missingField(path, field): return "\(path): missing field \"\(field)\""
        case let .wrongType(path, field, expected): return "\(path): field \"\(field)\" must be \(expected)"
        case let .badValue(path, field, value, expected): return "\(path): field \"\(field)\" = \(value): expected \(expected)"
        }
    }
}

public enum PackFolder {
    /// Decodes and checks pack.json text.
    public static func decode(_ data: Data, path: String) throws -> TraitPack {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw PackFolderError.badJSON(path: path, reason: (error as NSError).localizedDescription)
        }
        guard let root = object as? [String: Any] else { throw PackFolderError.wrongType(path: path, field: "(top level)", expected: "an object") }
        func string(_ dict: [String: Any], _ key: String, _ field: String) throws -> String {
            guard let v = dict[key] else { throw PackFolderError.missingField(path: path, field: field) }
            guard let s = v as? String else { throw PackFolderError.wrongType(path: path, field: field, expected: "a string") }
            guard !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw PackFolderError.badValue(path: path, field: field, value: "\"\"", expected: "a non-empty string")
            }
            return s
        }
        func strings(_ dict: [String: Any], _ key: String, _ field: String) throws -> [String] {
            guard let v = dict[key] else { throw PackFolderError.missingField(path: path, field: field) }
            guard let list = v as? [Any] else { throw PackFolderError.wrongType(path: path, field: field, expected: "an array of strings") }
            return try list.enumerated().map { i, item in
                guard let s = item as? String, !s.isEmpty else { throw PackFolderError.wrongType(path: path, field: "\(field)[\(i)]", expected: "a non-empty string") }
                return s
            }
        }
        let name = try string(root, "name", "name")
        guard name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }) else {
            throw PackFolderError.badValue(path: path, field: "name", value: name, expected: "lowercase letters, digits, - and _")
        }
        let description = try string(root, "description", "description")
        var assistantName: String? = nil
        if root["assistant_name"] != nil { assistantName = try string(root, "assistant_name", "assistant_name") }
        guard let rawInstructions = root["instructions"] else { throw PackFolderError.missingField(path: path, field: "instructions") }
        guard let instructionList = rawInstructions as? [Any] else { throw PackFolderError.wrongType(path: path, field: "instructions", expected: "an array of {\"pos\", \"neg\"} objects") }
        guard !instructionList.isEmpty else { throw PackFolderError.badValue(path: path, field: "instructions", value: "[]", expected: "at least one pair (5 by convention)") }
        let instructions = try instructionList.enumerated().map { i, item -> InstructionPair in
            guard let d = item as? [String: Any] else { throw PackFolderError.wrongType(path: path, field: "instructions[\(i)]", expected: "an object with \"pos\" and \"neg\"") }
            return InstructionPair(pos: try string(d, "pos", "instructions[\(i)].pos"), neg: try string(d, "neg", "instructions[\(i)].neg"))
        }
        guard let rawQuestions = root["questions"] else { throw PackFolderError.missingField(path: path, field: "questions") }
        guard let q = rawQuestions as? [String: Any] else { throw PackFolderError.wrongType(path: path, field: "questions", expected: "an object with \"extraction\" and \"evaluation\"") }
        let extraction = try strings(q, "extraction", "questions.extraction")
        let evaluation = try strings(q, "evaluation", "questions.evaluation")
        guard !extraction.isEmpty else { throw PackFolderError.badValue(path: path, field: "questions.extraction", value: "[]", expected: "at least one question") }
        guard !evaluation.isEmpty else { throw PackFolderError.badValue(path: path, field: "questions.evaluation", value: "[]", expected: "at least one question") }
        if let shared = Set(extraction).intersection(evaluation).first {
            throw PackFolderError.badValue(path: path, field: "questions.evaluation", value: "\"\(shared.prefix(60))\"", expected: "no question also in questions.extraction")
        }
        let evalPrompt = try string(root, "eval_prompt", "eval_prompt")
        for placeholder in ["{question}", "{answer}"] where !evalPrompt.contains(placeholder) {
            throw PackFolderError.badValue(path: path, field: "eval_prompt", value: "(text without \(placeholder))", expected: "a prompt containing \(placeholder)")
        }
        var behaviorItems: [BehaviorItem]? = nil
        if let raw = root["behavior_items"] {
            guard let list = raw as? [Any] else {
                throw PackFolderError.wrongType(path: path, field: "behavior_items", expected: "an array of {\"question\", \"a\", \"b\", \"trait\"} objects")
            }
            behaviorItems = try list.enumerated().map { i, item -> BehaviorItem in
                guard let d = item as? [String: Any] else {
                    throw PackFolderError.wrongType(path: path, field: "behavior_items[\(i)]", expected: "an object with \"question\", \"a\", \"b\" and \"trait\"")
                }
                let trait = try string(d, "trait", "behavior_items[\(i)].trait")
                guard trait == "a" || trait == "b" else {
                    throw PackFolderError.badValue(path: path, field: "behavior_items[\(i)].trait", value: "\"\(trait.prefix(40))\"", expected: "\"a\" or \"b\"")
                }
                return BehaviorItem(question: try string(d, "question", "behavior_items[\(i)].question"), a: try string(d, "a", "behavior_items[\(i)].a"),
                                    b: try string(d, "b", "behavior_items[\(i)].b"), trait: trait)
            }
        }
        return TraitPack(name: name, description: description, assistantName: assistantName, instructions: instructions,
                         questions: .init(extraction: extraction, evaluation: evaluation), evalPrompt: evalPrompt, behaviorItems: behaviorItems)
    }
}
