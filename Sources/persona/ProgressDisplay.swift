// Progress of pipeline stages on standard error: a bar redrawn in place on a terminal (items
// done/total, tokens/s, ETA), plain log lines otherwise (every 10 % and at the end).
import Foundation
import PersonaCore

#if canImport(Glibc)
    import Glibc
#endif

final class ProgressDisplay: PipelineProgress {
    let isTerminal = isatty(2) == 1
    private var stage = "", trait = "", total = 0, done = 0, tokens = 0, tokenBudget = 0
    private var start = Date()
    private var lastDraw = Date.distantPast
    private var lastLoggedDecile = -1

    func begin(stage: String, trait: String, total: Int, tokenBudget: Int) {
        self.stage = stage; self.trait = trait; self.total = total; self.tokenBudget = tokenBudget
        done = 0; tokens = 0; start = Date(); lastDraw = .distantPast; lastLoggedDecile = -1
        if !isTerminal { printError("\(stage) \(trait): \(total) items to compute") }
        draw(force: true)
    }

    func advance(done: Int, tokens: Int) {
        self.done = done; self.tokens = tokens
        draw(force: false)
    }

    func end() {
        draw(force: true)
        if isTerminal {
            FileHandle.standardError.write(Data("\n".utf8))
        } else {
            printError("\(stage) \(trait): done, \(done)/\(total) in \(Self.clock(Date().timeIntervalSince(start)))\(rate())")
        }
    }

    func log(_ message: String) { line(message) }
    func warn(_ message: String) { line("warning: " + message) }

    private func line(_ message: String) {
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        printError(message)
    }

    private func rate() -> String {
        let elapsed = Date().timeIntervalSince(start)
        guard tokens > 0, elapsed > 0 else { return "" }
        return String(format: ", %.1f tokens/s", Double(tokens) / elapsed)
    }

    /// From items done, or before the first item finishes, from tokens against the token budget (an upper bound).
    private func eta(_ elapsed: Double) -> String {
        if done > 0 { return Self.clock(elapsed / Double(done) * Double(total - done)) }
        if tokens > 0, tokenBudget > tokens { return "≤" + Self.clock(elapsed / Double(tokens) * Double(tokenBudget - tokens)) }
        return "--:--"
    }

    private static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--:--" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    private func draw(force: Bool) {
        let elapsed = Date().timeIntervalSince(start)
        if isTerminal {
            guard force || Date().timeIntervalSince(lastDraw) > 0.2 else { return }
            lastDraw = Date()
            let width = 24
            let fraction = total > 0 ? min(Double(done) / Double(total), 1) : 1
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            let eta = self.eta(elapsed)
            let text = "\r\u{1B}[2K\(stage) \(trait) \(bar) \(done)/\(total)\(rate()) ETA \(eta)"
            FileHandle.standardError.write(Data(text.utf8))
        } else if total > 0 {
            let decile = done * 10 / total
            if decile > lastLoggedDecile && done < total && decile > 0 {
                lastLoggedDecile = decile
                let eta = self.eta(elapsed)
                printError("\(stage) \(trait): \(done)/\(total)\(rate()), ETA \(eta)")
            }
        }
    }
}
