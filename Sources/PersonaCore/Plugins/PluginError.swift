// Errors of the plugin host and of trait-pack loading: each names the file and what is wrong.
import Foundation

public enum PluginHostError: Error, CustomStringConvertible, Equatable {
    /// A library was refused (not loadable, no entry symbol, wrong ABI version, struct too small…).
    case refused(path: String, reason: String)
    case notFound(name: String, kind: String, available: [String], refusedLibraries: Int)
    case conflict(name: String, paths: [String])
    case wrongKind(name: String, expected: String, found: String)
    case createFailed(name: String, code: Int32, message: String)
    case pluginFailed(name: String, function: String, code: Int32, message: String)
    case badPlugin(name: String, reason: String)

    public var description: String {
        switch self {
        case let .refused(path, reason): return "\(path): refused: \(reason)"
        case let .notFound(name, kind, available, refusedLibraries):
            return "no \(kind) plugin named \"\(name)\"" + (available.isEmpty ? " (none found)" : "; available: \(available.joined(separator: ", "))")
                + (refusedLibraries > 0 ? "; \(refusedLibraries) librar\(refusedLibraries == 1 ? "y was" : "ies were") refused, see `persona plugins`" : "")
        case let .conflict(name, paths):
            return "two or more plugins are named \"\(name)\": \(paths.joined(separator: ", ")); choose one with \"\(name)@PATH\""
        case let .wrongKind(name, expected, found): return "plugin \"\(name)\" is a \(found) plugin, not a \(expected) plugin"
        case let .createFailed(name, code, message): return "plugin \"\(name)\" failed to start (code \(code)): \(message)"
        case let .pluginFailed(name, function, code, message): return "plugin \"\(name)\": \(function) failed (code \(code)): \(message)"
        case let .badPlugin(name, reason): return "plugin \"\(name)\": \(reason)"
        }
    }
}

public enum PackError: Error, CustomStringConvertible, Equatable {
    /// Every problem of one pack, found at once.
    case invalid(source: String, problems: [String])
    case unreadable(path: String, reason: String)
    case notFound(name: String, available: [String])
    case conflict(name: String, sources: [String])

    public var description: String {
        switch self {
        case let .invalid(source, problems):
            return "\(source): invalid trait pack (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n"
                + problems.map { "  - \($0)" }.joined(separator: "\n")
        case let .unreadable(path, reason): return "\(path): \(reason)"
        case let .notFound(name, available):
            return "no trait pack named \"\(name)\"" + (available.isEmpty ? "" : "; available: \(available.joined(separator: ", "))")
        case let .conflict(name, sources):
            return "two trait packs are named \"\(name)\": \(sources.joined(separator: ", ")); load one with --pack DIR or remove the other"
        }
    }
}
