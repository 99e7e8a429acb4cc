// Errors of the template engine: syntax errors with line and column, runtime errors, limits.

public enum TemplateError: Error, CustomStringConvertible, Equatable {
    case syntax(line: Int, column: Int, message: String)
    case runtime(String)
    /// `raise_exception(message)` called by the template.
    case raised(String)
    case limitExceeded(limit: String, value: Int)

    public var description: String {
        switch self {
        case let .syntax(line, column, message): return "template syntax error at line \(line), column \(column): \(message)"
        case let .runtime(message): return "template error: \(message)"
        case let .raised(message): return "the chat template refused the conversation: \(message)"
        case let .limitExceeded(limit, value): return "template exceeded its \(limit) limit (\(value))"
        }
    }
}
