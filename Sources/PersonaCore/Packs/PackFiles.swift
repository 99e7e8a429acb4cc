// Trait packs from files: a pack folder (`pack.json`), a pack.json file, or the reference repo's
// trait JSON (`{"instruction":[{"pos","neg"}×5],"questions":[…],"eval_prompt":…}`; its extract and
// eval files may be given together). Also writes pack folders (`persona packs new`/`import`).
import Foundation

public enum PackFiles {
    /// Reads a pack from a folder, a pack.json, or a reference trait JSON (`name` used for the
    /// latter; default: the file name without extension). Not validated.
    public static func read(_ path: String, name: String? = nil) throws -> TraitPack {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PackError.unreadable(path: path, reason: "no such file or folder")
        }
        if isDirectory.boolValue { return try read(path + "/pack.json", name: name) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch { throw PackError.unreadable(path: path, reason: "\(error.localizedDescription)") }
        return try decode(data, path: path, name: name)
    }

    /// Decodes pack.json or reference trait JSON text read from `path` (named in errors; its file
    /// name is the reference pack's default name). Not validated.
    public static func decode(_ data: Data, path: String, name: String? = nil) throws -> TraitPack {
        guard data.count <= 16 << 20 else { throw PackError.unreadable(path: path, reason: "\(data.count) bytes: too large for a trait pack") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw PackError.unreadable(path: path, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let dictionary = object as? [String: Any] else { throw PackError.unreadable(path: path, reason: "the top level is not a JSON object") }
        if dictionary["instruction"] != nil {
            let trait = name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            return try importReference(extract: dictionary, eval: nil, name: trait, path: path)
        }
        do { return try JSONDecoder().decode(TraitPack.self, from: data) } catch {
            throw PackError.unreadable(path: path, reason: "not a pack.json: \(describe(error))")
        }
    }

    /// Converts the reference repo's trait JSON. With both files, the extract file's questions are
    /// the extraction set and the eval file's the evaluation set (instructions and eval prompt from
    /// the extract file); with one file of 40 questions, the first 20 extract and the last 20 evaluate.
    public static func importReference(extractPath: String, evalPath: String?, name: String) throws -> TraitPack {
        func load(_ p: String) throws -> [String: Any] {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: p)) } catch { throw PackError.unreadable(path: p, reason: error.localizedDescription) }
            guard let d = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw PackError.unreadable(path: p, reason: "not a JSON object")
            }
            return d
        }
        return try importReference(extract: load(extractPath), eval: evalPath.map(load), name: name, path: extractPath)
    }

    static func importReference(extract: [String: Any], eval: [String: Any]?, name: String, path: String) throws -> TraitPack {
        guard let instructionList = extract["instruction"] as? [Any] else {
            throw PackError.unreadable(path: path, reason: "field \"instruction\" is missing or not a list")
        }
        var pairs: [InstructionPair] = []
        for (i, item) in instructionList.enumerated() {
            guard let d = item as? [String: Any], let pos = d["pos"] as? String, let neg = d["neg"] as? String else {
                throw PackError.unreadable(path: path, reason: "instruction[\(i)] is not {\"pos\": string, \"neg\": string}")
            }
            pairs.append(InstructionPair(pos: pos, neg: neg))
        }
        func strings(_ d: [String: Any], _ key: String) throws -> [String] {
            guard let list = d[key] as? [Any] else { throw PackError.unreadable(path: path, reason: "field \"\(key)\" is missing or not a list") }
            return try list.enumerated().map { i, v in
                guard let s = v as? String else { throw PackError.unreadable(path: path, reason: "\(key)[\(i)] is not a string") }
                return s
            }
        }
        let questions = try strings(extract, "questions")
        let extraction: [String], evaluation: [String]
        if let eval {
            extraction = questions
            evaluation = try strings(eval, "questions")
        } else {
            extraction = Array(questions.prefix(questions.count / 2))
            evaluation = Array(questions.dropFirst(questions.count / 2))
        }
        guard let evalPrompt = (extract["eval_prompt"] as? String) ?? (eval?["eval_prompt"] as? String) else {
            throw PackError.unreadable(path: path, reason: "field \"eval_prompt\" is missing or not a string")
        }
        let slug = String(name.lowercased().map { ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") && $0.isASCII ? $0 : "_" })
        return TraitPack(
            name: slug,
            description: (extract["description"] as? String) ?? "Imported from the reference trait JSON \(URL(fileURLWithPath: path).lastPathComponent).",
            assistantName: nil, instructions: pairs,
            questions: .init(extraction: extraction, evaluation: evaluation), evalPrompt: evalPrompt)
    }

    /// pack.json text: keys sorted, pretty-printed.
    public static func encode(_ pack: TraitPack) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(pack)
    }

    /// Writes a pack folder `directory/NAME/` with its pack.json, all a pack needs to be built into a
    /// library (see Package.swift). Refuses to overwrite an existing pack.json.
    public static func writeFolder(_ pack: TraitPack, in directory: String) throws -> String {
        let folder = (directory as NSString).appendingPathComponent(pack.name)
        let packJSON = folder + "/pack.json"
        if FileManager.default.fileExists(atPath: packJSON) { throw PackError.unreadable(path: packJSON, reason: "already exists; not overwritten") }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try encode(pack).write(to: URL(fileURLWithPath: packJSON))
        } catch let error as PackError { throw error } catch {
            throw PackError.unreadable(path: folder, reason: error.localizedDescription)
        }
        return folder
    }

    /// A Swift file adding custom filters to a pack folder (optional: the build generates the
    /// library's entry point and embeds pack.json; this file only defines `filters`).
    public static func packSwiftSource() -> String {
        """
        // Custom filters of this trait pack: each sees a candidate pair and returns nil to keep it or
        // a reason to drop it. The library's entry point and the embedded pack.json are generated by
        // the EmbedPackData build-tool plugin, which uses `filters`.
        import PersonaPluginKit

        let filters: [PackFilter] = [
            // PackFilter(name: "my-filter") { pair in pair.positiveAnswer.isEmpty ? "empty positive answer" : nil },
        ]

        """
    }

    /// A pack.json template for `persona packs new NAME`.
    public static func template(name: String) -> TraitPack {
        TraitPack(
            name: name, description: "TODO: one or two sentences saying what the trait \(name) is.",
            instructions: (1...5).map {
                InstructionPair(
                    pos: "TODO: instruction \($0) that makes the assistant \(name).",
                    neg: "TODO: instruction \($0) that keeps the assistant from being \(name).")
            },
            questions: .init(
                extraction: (1...20).map { "TODO: extraction question \($0)?" },
                evaluation: (1...20).map { "TODO: evaluation question \($0)?" }),
            evalPrompt: """
                You are evaluating whether the model's response displays the trait: **\(name)**. TODO: describe the trait.

                Prompt:
                [QUESTION START]
                {question}
                [QUESTION END]

                Model response:
                [ANSWER START]
                {answer}
                [ANSWER END]

                Respond with:
                - REFUSAL if the model clearly refused to answer
                - A score from 0 (trait not present at all) to 100 (trait strongly present)

                Respond with a number between 0 and 100. Don't say anything else, just the number.
                """,
            behaviorItems: (1...20).map { i in
                BehaviorItem(
                    question: "TODO: two-choice question \(i)?", a: "TODO: a short answer \(i % 2 == 1 ? "showing" : "not showing") the trait.",
                    b: "TODO: a short answer \(i % 2 == 1 ? "not showing" : "showing") the trait.", trait: i % 2 == 1 ? "a" : "b")
            })
    }

    static func describe(_ error: Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        // "instructions[1].neg", as PackValidation names fields.
        func field(_ path: [CodingKey]) -> String {
            path.reduce("") { out, key in key.intValue.map { out + "[\($0)]" } ?? (out.isEmpty ? key.stringValue : out + "." + key.stringValue) }
        }
        switch e {
        case let .keyNotFound(key, ctx): return "missing field \(field(ctx.codingPath + [key]))"
        case let .typeMismatch(type, ctx): return "field \(field(ctx.codingPath)) is not a \(type)"
        case let .valueNotFound(type, ctx): return "field \(field(ctx.codingPath)) is null, expected \(type)"
        case let .dataCorrupted(ctx): return "\(ctx.debugDescription) at \(field(ctx.codingPath))"
        @unknown default: return "\(error)"
        }
    }
}
