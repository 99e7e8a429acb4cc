// Chat templates: a model's own Jinja template rendered with our interpreter, the way Hugging Face
// transformers renders them (messages, add_generation_prompt, bos/eos tokens, raise_exception,
// strftime_now, namespace, range).
import Foundation

/// One chat message.
public struct ChatMessage: Equatable, Sendable, Codable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// A parsed template.
public struct JinjaTemplate {
    let nodes: [Node]
    public var limits = TemplateLimits()

    public init(source: String) throws { nodes = try Parser.parse(source) }

    /// Renders with `context` as global variables (plus the builtin functions).
    public func render(_ context: [String: JinjaValue]) throws -> String {
        var globals = JinjaTemplate.builtins
        for (k, v) in context { globals[k] = v }
        let interpreter = Interpreter(globals: globals, limits: limits)
        try interpreter.run(nodes)
        return interpreter.output
    }

    /// The longest list `range()` builds.
    static let maximumRangeLength = 100_000

    /// Python's range(start, stop, step) for any 64-bit bounds: the length is computed without
    /// overflow (the distance between two Ints always fits in a UInt) and checked before building.
    static func rangeValues(_ start: Int, _ stop: Int, _ step: Int) throws -> [Int] {
        guard step > 0 ? start < stop : start > stop else { return [] }
        let distance = step > 0 ? UInt(bitPattern: stop &- start) : UInt(bitPattern: start &- stop)
        let count = (distance - 1) / step.magnitude + 1
        guard count <= UInt(maximumRangeLength) else {
            throw TemplateError.limitExceeded(limit: "range length", value: maximumRangeLength)
        }
        // Every value lies between start and stop, so the wrapping arithmetic is exact.
        return (0..<Int(count)).map { start &+ $0 &* step }
    }

    static let builtins: [String: JinjaValue] = [
        "raise_exception": .function(JinjaFunction { args, _ in throw TemplateError.raised(try args.first?.text(limit: 1 << 16) ?? "") }),
        "range": .function(
            JinjaFunction { args, _ in
                let ints = args.compactMap {
                    if case .int(let i) = $0 { return i }; return nil
                }
                guard ints.count == args.count, (1...3).contains(ints.count) else { throw TemplateError.runtime("range() takes 1 to 3 integers") }
                let (start, stop, step) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
                guard step != 0 else { throw TemplateError.runtime("range() step cannot be zero") }
                return .array(try rangeValues(start, stop, step).map { .int($0) })
            }),
        "namespace": .function(
            JinjaFunction { _, keywords in
                let ns = JinjaNamespace()
                for (k, v) in keywords { ns.set(k, v) }
                return .namespace(ns)
            }),
        "dict": .function(JinjaFunction { _, keywords in .dict(keywords) })
    ]
}

/// A model's chat template.
public struct ChatTemplate {
    public let source: String
    let template: JinjaTemplate
    /// The date `strftime_now` reports (fixed for reproducible prompts; default: today).
    public var now: Date = Date()

    public init(source: String) throws {
        self.source = source
        self.template = try JinjaTemplate(source: source)
    }

    /// Renders a conversation.
    public func render(
        messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String = "", eosToken: String = "",
        extra: [String: JinjaValue] = [:]
    ) throws -> String {
        var context: [String: JinjaValue] = [
            "messages": .array(messages.map { .dict([("role", .string($0.role)), ("content", .string($0.content))]) }),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken)
        ]
        let date = now
        context["strftime_now"] = .function(
            JinjaFunction { args, _ in
                let formatter = DateFormatter()
                formatter.locale = Locale(identifier: "en_US_POSIX")
                formatter.timeZone = TimeZone(identifier: "UTC")
                formatter.dateFormat = ChatTemplate.dateFormat(fromStrftime: args.first?.text ?? "%Y-%m-%d")
                return .string(formatter.string(from: date))
            })
        for (k, v) in extra { context[k] = v }
        return try template.render(context)
    }

    /// Translates the strftime directives templates use into a DateFormatter pattern.
    static func dateFormat(fromStrftime format: String) -> String {
        let map: [Character: String] = [
            "Y": "yyyy", "m": "MM", "d": "dd", "b": "MMM", "B": "MMMM", "H": "HH", "M": "mm", "S": "ss", "y": "yy", "a": "EEE", "A": "EEEE", "e": "d"
        ]
        var out = ""
        var literal = ""
        var chars = Array(format)[...]
        func flushLiteral() { if !literal.isEmpty { out += "'" + literal.replacingOccurrences(of: "'", with: "''") + "'"; literal = "" } }
        while let c = chars.popFirst() {
            if c == "%", let d = chars.popFirst() {
                if let m = map[d] { flushLiteral(); out += m } else { literal.append(d) }
            } else {
                literal.append(c)
            }
        }
        flushLiteral()
        return out
    }
}
