// `persona report --data report.json --out DIR`: renders a ReportData JSON file as the report
// (report.html with inline SVG, tables/*.csv, report.json). The work lives in PersonaCore/Report.
import ArgumentParser
import Foundation
import PersonaCore

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a run report: one self-contained HTML page with inline SVG charts, plus CSV and JSON tables.")

    @Option(help: "A ReportData JSON file (report.json of an earlier report).")
    var data: String

    @Option(help: "Output directory (created if missing).")
    var out: String

    func run() throws {
        let report = try ReportData.load(path: data)
        let html = try ReportWriter.write(report, to: URL(fileURLWithPath: out))
        print(html.path)
    }
}
