// `persona report RUN` writes a run's report from its store (no model needed); `persona report
// --data report.json --out DIR` renders a ReportData JSON file again. Either way: report.html (one
// self-contained page with inline SVG), tables/*.csv and report.json. The work lives in
// PersonaCore (Pipeline/RunReport, Report/).
import ArgumentParser
import Foundation
import PersonaCore

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a run report: one self-contained HTML page with inline SVG charts, plus CSV and JSON tables.",
        discussion: "Give a run directory (the report goes to RUN/report unless --out says otherwise), or --data with a report.json.")

    @Argument(help: "The run directory.")
    var directory: String?

    @Option(help: "A ReportData JSON file (report.json of an earlier report) instead of a run directory.")
    var data: String?

    @Option(help: "Output directory (created if missing; default RUN/report).")
    var out: String?

    func validate() throws {
        if (directory == nil) == (data == nil) {
            throw ValidationError("give either a run directory or --data FILE")
        }
        if data != nil && out == nil { throw ValidationError("--data needs --out DIR") }
    }

    func run() throws {
        let report: ReportData
        let folder: URL
        if let data {
            report = try ReportData.load(path: data)
            folder = URL(fileURLWithPath: out ?? ".")
        } else {
            let run = directory ?? "."
            report = try RunReport.build(runDirectory: run)
            folder = URL(fileURLWithPath: out ?? run + "/report")
        }
        let html = try ReportWriter.write(report, to: folder)
        print(html.path)
    }
}
