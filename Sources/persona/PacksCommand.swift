// `persona packs …`: list trait packs, validate a pack, scaffold a new one, import the reference
// repo's trait JSON.
import ArgumentParser
import Foundation
import PersonaCore

struct PacksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "packs",
        abstract: "Trait packs: list, validate, scaffold, import.",
        subcommands: [PacksList.self, PacksValidate.self, PacksNew.self, PacksImport.self],
        defaultSubcommand: PacksList.self)
}

struct PacksList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the trait packs the host finds (libraries and --pack folders).")

    @Option(name: .customLong("pack"), help: ArgumentHelp("Also load a bare pack folder, pack.json or reference trait JSON; repeatable.", valueName: "dir"))
    var packFolders: [String] = []

    @Flag(help: "Print JSON.")
    var json = false

    struct Output: Encodable {
        struct Pack: Encodable {
            let name, source, contentHash: String
            let instructionPairs, extractionQuestions, evaluationQuestions: Int
            let filters: [String]
        }
        struct Refused: Encodable { let source, reason: String }
        let packs: [Pack]
        let refused: [Refused]
    }

    func run() throws {
        let host = PluginHost()
        host.discover()
        let (packs, refused) = host.discoverPacks(extraFolders: packFolders)
        let output = Output(
            packs: packs.sorted { $0.name < $1.name }.map {
                .init(
                    name: $0.name, source: $0.source, contentHash: $0.contentHash, instructionPairs: $0.pack.instructions.count,
                    extractionQuestions: $0.pack.questions.extraction.count, evaluationQuestions: $0.pack.questions.evaluation.count,
                    filters: $0.filters.map(\.name))
            },
            refused: refused.map { .init(source: $0.path, reason: $0.reason) })
        if json { print(try jsonText(output)); return }
        printTable(
            [["NAME", "PAIRS", "EXTRACT", "EVAL", "FILTERS", "HASH", "SOURCE"]]
                + output.packs.map {
                    [
                        $0.name, "\($0.instructionPairs)", "\($0.extractionQuestions)", "\($0.evaluationQuestions)",
                        $0.filters.isEmpty ? "-" : $0.filters.joined(separator: ","), String($0.contentHash.prefix(16)), $0.source
                    ]
                })
        if !output.refused.isEmpty {
            print("\nrefused:")
            for r in output.refused { print("  \(r.reason)") }
        }
    }
}

struct PacksValidate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Check a pack folder, pack.json or reference trait JSON; report every problem.")

    @Argument(help: "A pack folder, a pack.json, or the reference repo's trait JSON.")
    var path: String

    func run() throws {
        let pack = try PackFiles.read(path)
        let problems = PackValidation.problems(pack)
        if problems.isEmpty {
            print(
                "\(path): valid pack \"\(pack.name)\" (\(pack.instructions.count) pairs, \(pack.questions.extraction.count)+\(pack.questions.evaluation.count) questions, hash \(pack.contentHash().prefix(16)))"
            )
            return
        }
        printError(PackError.invalid(source: path, problems: problems).description)
        throw ExitCode(1)
    }
}

struct PacksNew: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Scaffold TraitPacks/NAME/ with a pack.json template (the folder needs nothing else; add a Swift file only for custom filters).")

    @Argument(help: "The trait name ([a-z0-9_-]+).")
    var name: String

    @Option(help: "The folder to create the pack in.")
    var directory = "TraitPacks"

    func validate() throws {
        guard !name.isEmpty, name.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 }) else {
            throw ValidationError("pack name \"\(name)\" must match [a-z0-9_-]+")
        }
    }

    func run() throws {
        let folder = try PackFiles.writeFolder(PackFiles.template(name: name), in: directory)
        print(
            "created \(folder)/pack.json: fill in every TODO, then `persona packs validate \(folder)` and `make build` (custom filters: add a Swift file defining `let filters: [PackFilter]`)"
        )
    }
}

struct PacksImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Convert the reference repo's trait JSON (extract file, optional eval file) into a pack folder.")

    @Argument(help: "The trait JSON (the extract file, or one file with all questions).")
    var file: String

    @Argument(help: "The eval file of the same trait (its questions become the evaluation set).")
    var evalFile: String?

    @Option(help: "The trait name (default: the file name without extension).")
    var name: String?

    @Option(help: "The folder to create the pack in.")
    var directory = "TraitPacks"

    func run() throws {
        let traitName = name ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let pack = try PackFiles.importReference(extractPath: file, evalPath: evalFile, name: traitName)
        let folder = try PackFiles.writeFolder(pack, in: directory)
        let problems = PackValidation.problems(pack)
        print("created \(folder)")
        if !problems.isEmpty {
            printError(PackError.invalid(source: folder + "/pack.json", problems: problems).description + "\nfix these before building the pack")
        }
    }
}
