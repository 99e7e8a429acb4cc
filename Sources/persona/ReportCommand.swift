// `persona report RUN`: the run's report from its store (no model needed).
import ArgumentParser
import Foundation
import PersonaCore

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the report of a run directory (HTML with inline SVG charts, CSV and JSON).")

    @Argument(help: "The run directory.")
    var directory: String

    @Option(help: "Output folder (default: RUN/report).")
    var out: String?

    func run() throws {
        let data = try RunReport.build(runDirectory: directory)
        let folder = URL(fileURLWithPath: out ?? directory + "/report")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(jsonText(data).utf8).write(to: folder.appendingPathComponent("report-data.json"))
        // INTEGRATION: the report writer (HTML/SVG/CSV) lands here: `try ReportWriter.write(data, to: folder)`.
        print(folder.appendingPathComponent("report-data.json").path)
    }
}
