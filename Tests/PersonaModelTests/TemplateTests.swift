// Chat templates against Hugging Face and Python's jinja2: the references' chat_template cases
// (text and ids), and Qwen2.5, SmolLM2, a Llama 3.1-style and a Mistral-style template over several
// conversations, compared with outputs rendered by jinja2 as transformers configures it
// (scripts/make-template-fixtures.py). Plus error cases and limits.
import Foundation
import XCTest
import PersonaTestSupport
@testable import PersonaModel

final class TemplateTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/templates")

    func testReferenceChatTemplateCases() throws {
        for name in ["smollm2-135m", "qwen2.5-0.5b"] {
            let reference = try Reference.load(name).json.dict("chat_template")
            let template = try ChatTemplate(source: try XCTUnwrap(reference.string("template")))
            let tokenizer = try BPETokenizer(gguf: GGUFFile(path: TestPaths.model(name)))
            for c in reference.list("cases").compactMap({ $0 as? [String: Any] }) {
                let messages = c.list("messages").compactMap { $0 as? [String: Any] }.map {
                    ChatMessage(role: $0.string("role") ?? "", content: $0.string("content") ?? "")
                }
                let text = try template.render(messages: messages, addGenerationPrompt: (c["add_generation_prompt"] as? Bool) ?? true)
                XCTAssertEqual(text, c.string("text"), name)
                XCTAssertEqual(tokenizer.encode(text), c.ints("ids"), name)
            }
            // The template in the model file is the reference's.
            XCTAssertEqual(try GGUFFile(path: TestPaths.model(name)).string("tokenizer.chat_template"), reference.string("template"))
        }
    }

    static let tools: JinjaValue = .array([
        .dict([
            ("type", .string("function")),
            (
                "function",
                .dict([
                    ("name", .string("get_weather")), ("description", .string("Weather for a city — «quoted»")),
                    (
                        "parameters",
                        .dict([
                            ("type", .string("object")), ("properties", .dict([("city", .dict([("type", .string("string"))]))])),
                            ("required", .array([.string("city")]))
                        ])
                    )
                ])
            )
        ])
    ])

    static let conversations: [String: [ChatMessage]] = [
        "user": [ChatMessage(role: "user", content: "What is the capital of France?")],
        "system_user": [ChatMessage(role: "system", content: "  You are terse.  "), ChatMessage(role: "user", content: "Hi there")],
        "multi_turn": [
            ChatMessage(role: "system", content: "You are a helpful coding assistant."),
            ChatMessage(role: "user", content: "Write a function."),
            ChatMessage(role: "assistant", content: "def f():\n    return 1  "),
            ChatMessage(role: "user", content: "Now add a docstring — please, with ünïcode.")
        ],
        "bad_alternation": [ChatMessage(role: "user", content: "a"), ChatMessage(role: "user", content: "b")]
    ]

    func testTemplatesMatchJinja2() throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("expected.json"))
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        var sources: [String: String] = [:]
        for name in ["llama31-style", "mistral-style"] {
            sources[name] = try String(contentsOf: Self.fixtures.appendingPathComponent("\(name).jinja"), encoding: .utf8)
        }
        sources["smollm2"] = try Reference.load("smollm2-135m").json.dict("chat_template").string("template")
        sources["qwen2.5"] = try Reference.load("qwen2.5-0.5b").json.dict("chat_template").string("template")
        var now = DateComponents()
        (now.year, now.month, now.day, now.hour) = (2026, 11, 24, 12)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let cases = expected.list("cases").compactMap { $0 as? [String: Any] }
        XCTAssertEqual(cases.count, 48)
        for c in cases {
            let name = try XCTUnwrap(c.string("template")), conversation = try XCTUnwrap(c.string("conversation"))
            var template = try ChatTemplate(source: try XCTUnwrap(sources[name]))
            template.now = try XCTUnwrap(calendar.date(from: now))
            let label = "\(name)/\(conversation)/gen=\(c["add_generation_prompt"] as? Bool ?? false)/tools=\(c["tools"] as? Bool ?? false)"
            do {
                let text = try template.render(
                    messages: Self.conversations[conversation]!, addGenerationPrompt: c["add_generation_prompt"] as? Bool ?? false,
                    bosToken: "<s>", eosToken: "</s>", extra: (c["tools"] as? Bool ?? false) ? ["tools": Self.tools] : [:])
                XCTAssertEqual(text, c.string("text"), label)
            } catch TemplateError.raised(let message) {
                XCTAssertEqual(message, c.string("error"), label)
            }
        }
    }

    func testInterpreterFeaturesMatchJinja2() throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("expected.json"))
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let source = try String(contentsOf: Self.fixtures.appendingPathComponent("features.jinja"), encoding: .utf8)
        let context: [String: JinjaValue] = [
            "items": .array([1, 2, 3, 4, 5].map { .int($0) }),
            "data": .dict([("name", .string("Ada")), ("tags", .array([.string("x"), .string("y")])), ("n", .double(1.5))])
        ]
        XCTAssertEqual(try JinjaTemplate(source: source).render(context), expected.dict("features").string("text"))
    }

    func testErrorsAndLimits() throws {
        func syntaxError(_ source: String) -> Bool {
            do { _ = try JinjaTemplate(source: source); return false } catch TemplateError.syntax { return true } catch { return false }
        }
        XCTAssertTrue(syntaxError("{% if x %}never closed"))
        XCTAssertTrue(syntaxError("{{ x "))
        XCTAssertTrue(syntaxError("{% frobnicate %}"))
        XCTAssertTrue(syntaxError("{{ 'unterminated }}"))
        XCTAssertThrowsError(try JinjaTemplate(source: "{{ x | nosuchfilter }}").render(["x": .int(1)])) {
            XCTAssert("\($0)".contains("nosuchfilter"))
        }
        XCTAssertThrowsError(try JinjaTemplate(source: "{{ raise_exception('no system role') }}").render([:])) {
            XCTAssertEqual($0 as? TemplateError, .raised("no system role"))
        }
        var loop = try JinjaTemplate(source: "{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}")
        loop.limits.maximumLoopIterations = 10_000
        XCTAssertThrowsError(try loop.render([:])) { XCTAssertEqual($0 as? TemplateError, .limitExceeded(limit: "loop iterations", value: 10_000)) }
        var big = try JinjaTemplate(source: "{% for i in range(100) %}{{ 'aaaaaaaaaa' * 1000 }}{% endfor %}")
        big.limits.maximumOutputBytes = 100_000
        XCTAssertThrowsError(try big.render([:])) { XCTAssertEqual($0 as? TemplateError, .limitExceeded(limit: "output size", value: 100_000)) }
        let deep = String(repeating: "{% if true %}", count: 300) + String(repeating: "{% endif %}", count: 300)
        XCTAssertThrowsError(try JinjaTemplate(source: deep)) { XCTAssertEqual($0 as? TemplateError, .limitExceeded(limit: "nesting depth", value: 200)) }
        let recursive = try JinjaTemplate(source: "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
        XCTAssertThrowsError(try recursive.render([:])) { XCTAssertEqual($0 as? TemplateError, .limitExceeded(limit: "call depth", value: 64)) }
    }

    /// Hostile templates (model files are untrusted): each ends with its own error, quickly, never a trap.
    /// Each case: source, and a fragment its error must contain.
    static let hostileTemplates: [(String, String)] = [
        ("{{ 2 ** 64 }}", "integer overflow: 2 ** 64"),
        ("{{ 9223372036854775807 + 1 }}", "integer overflow"),
        ("{{ -9223372036854775807 - 2 }}", "integer overflow"),
        ("{{ 4294967296 * 4294967296 }}", "integer overflow"),
        ("{{ (-9223372036854775807 - 1) // -1 }}", "integer overflow"),
        ("{{ -(-9223372036854775807 - 1) }}", "integer overflow"),
        ("{{ (-9223372036854775807 - 1) | abs }}", "integer overflow"),
        ("{{ 1 // 0 }}", "by zero"),
        ("{{ 1.5 % 0 }}", "by zero"),
        ("{{ '1e999' | int }}", "int: '1e999' has no 64-bit integer value"),
        ("{{ 'nan' | int }}", "int: 'nan' has no 64-bit integer value"),
        ("{{ (10.0 ** 300 * 10.0 ** 300) | int }}", "int: inf has no 64-bit integer value"),
        ("{{ (10.0 ** 19) | int }}", "int: 1e+19 has no 64-bit integer value"),
        ("{{ 'a\nb' | indent(-1) }}", "indent: width must be 0 or more, not -1"),
        ("{{ 'a\nb' | indent(10 ** 12) }}", "output size"),
        ("{{ [1, 2] | tojson(indent=-1) }}", "tojson: indent must be 0 or more, not -1"),
        ("{{ [[1, 2]] | tojson(indent=10 ** 15) }}", "output size"),
        ("{{ range(-9223372036854775807, 9223372036854775807) | length }}", "range length"),
        ("{{ range(9223372036854775807, -9223372036854775807, -1) | length }}", "range length"),
        ("{% for i in range(10 ** 9) %}x{% endfor %}", "range length"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "limit"),
        ("{{ 'a' * 10 ** 10 }}", "output size"),
        ("{{ 'a' * 9223372036854775807 }}", "output size"),
        ("{{ [1] * 10 ** 10 }}", "list length"),
        ("{% set ns = namespace(s='a') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}", "output size"),
        ("{% set ns = namespace(s='a') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "output size"),
        ("{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s | replace('a', ns.s) %}{% endfor %}", "output size"),
        ("{% set ns = namespace(l=['aaaaaaaaaaaaaaaa']) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", "list length"),
        ("{% set big = 'a' * 1000000 %}{% set l = [big] * 100000 %}{{ l }}", "output size"),
        ("{% set big = 'a' * 1000000 %}{% set l = [big] * 100000 %}{{ l | join(',') | length }}", "output size"),
        ("{% set big = 'a' * 1000000 %}{% set l = [big] * 100000 %}{{ l | string | length }}", "output size"),
        ("{% set big = 'a' * 1000000 %}{% set l = [big] * 100000 %}{{ l | tojson | length }}", "output size"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "call depth"),
        ("{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}", "limit"),
        ("{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% else %}x{% endif %}{% endmacro %}{{ f(0) }}", "limit"),
        ("{{ 9223372036854775808 }}", "too large"),
        ("{% for i in [0] * 1000000 if i > 0 %}{% endfor %}", "steps")
    ]

    /// A long legitimate conversation renders whatever the machine's load: within every counted
    /// limit, it must not fail by the clock. The default clock is a generous backstop (≥ 10 s, far
    /// above any real render), and the render succeeds while other threads keep the cores busy.
    func testALongConversationRendersOnABusyMachine() throws {
        XCTAssertGreaterThanOrEqual(TemplateLimits().maximumSeconds, 10, "the clock is a backstop, not the limit")
        let reference = try Reference.load("qwen2.5-0.5b").json.dict("chat_template")
        let template = try ChatTemplate(source: try XCTUnwrap(reference.string("template")))
        let messages = (0..<2000).map {
            ChatMessage(
                role: $0 % 2 == 0 ? "user" : "assistant",
                content: "Message \($0): " + String(repeating: "a fairly long sentence of the conversation. ", count: 20))
        }
        let stop = ManagedAtomicFlag()
        let busy = DispatchGroup()
        for _ in 0..<4 {
            DispatchQueue.global().async(group: busy) {
                var x = 1.0; while !stop.isSet { for _ in 0..<10_000 { x = x * 1.000001 + 1e-9 } }; _ = x
            }
        }
        defer { stop.set(); busy.wait() }
        let text = try template.render(messages: messages, addGenerationPrompt: true)
        XCTAssertTrue(text.contains("Message 1999: "))
    }

    /// Every hostile template is ended by a counted limit (or a checked operation), never by the
    /// clock: the clock is switched off here, so a template that only the clock would stop fails
    /// this test by running on, on every machine alike, instead of passing or failing by load.
    func testHostileTemplatesEndWithClearErrorsQuickly() throws {
        for (source, expected) in Self.hostileTemplates {
            var template = try? JinjaTemplate(source: source)
            template?.limits.maximumSeconds = .infinity
            do {
                let text = try template.map { try $0.render([:]) } ?? JinjaTemplate(source: source).render([:])
                XCTFail("\(source): rendered \(text.utf8.count) bytes instead of failing")
            } catch {
                XCTAssert("\(error)".contains(expected), "\(source): \(error)")
                XCTAssertFalse("\(error)".contains("render time"), "\(source): ended by the clock, not a counted limit: \(error)")
            }
        }
        // Repeating an empty operand is empty at once, whatever the count (found by the fuzzer: it
        // looped or allocated the count before): one step each, so the step limit of 3 suffices.
        for source in ["{{ '' * 10 ** 12 }}", "{{ ([] * 10 ** 12) | length }}{{ [] * -3 }}{{ 'ab' * 0 }}"] {
            var template = try JinjaTemplate(source: source)
            template.limits.maximumSeconds = .infinity
            template.limits.maximumSteps = 3
            template.limits.maximumListLength = 1
            template.limits.maximumOutputBytes = 16
            let text = try template.render([:])
            XCTAssertEqual(text, source.contains("length") ? "0[]" : "", source)
        }
        // Without the time backstop, the counted limits end them by themselves.
        var exponential = try JinjaTemplate(source: "{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}")
        exponential.limits.maximumSeconds = 60
        XCTAssertThrowsError(try exponential.render([:])) { XCTAssertEqual($0 as? TemplateError, .limitExceeded(limit: "steps", value: 250_000)) }
        var slow = try JinjaTemplate(source: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
        slow.limits.maximumSeconds = 60
        XCTAssertThrowsError(try slow.render([:])) { XCTAssertEqual($0 as? TemplateError, .limitExceeded(limit: "loop iterations", value: 100_000)) }
        // Exact Python results that checked arithmetic must keep.
        let exact: [(String, String)] = [
            ("{{ 9223372036854775807 // 1 }}", "9223372036854775807"), ("{{ 9223372036854775807 % 1 }}", "0"),
            ("{{ (-9223372036854775807 - 1) % -1 }}", "0"), ("{{ -7 // 2 }} {{ -7 % 2 }} {{ 7 // -2 }} {{ 7 % -2 }}", "-4 1 -4 -1"),
            ("{{ 2 ** 62 }} {{ (-2) ** 63 }} {{ 10 ** 0 }} {{ 2 ** -1 }}", "4611686018427387904 -9223372036854775808 1 0.5"),
            ("{{ range(9223372036854775806, 9223372036854775807, 10) | list }}", "[9223372036854775806]"),
            ("{{ range(5, -5, -3) | list }}", "[5, 2, -1, -4]"),
            ("{{ '12' | int }} {{ ' 7.9 ' | int }} {{ 'x' | int }} {{ -3.5 | int }}", "12 7 0 -3"),
            ("{{ 'a\nb' | indent(2) }}|{{ [1, [2]] | tojson(indent=2) }}", "a\n  b|[\n  1,\n  [\n    2\n  ]\n]"),
            ("{{ 'ab' * 3 }}{{ [0] * 2 }}{{ 'a-b' | replace('-', '--') }}", "ababab[0, 0]a--b")
        ]
        for (source, expected) in exact { XCTAssertEqual(try JinjaTemplate(source: source).render([:]), expected, source) }
    }

    func testWhitespaceControl() throws {
        func r(_ s: String) throws -> String { try JinjaTemplate(source: s).render(["x": .string("X")]) }
        XCTAssertEqual(try r("a  {{- x -}}  b"), "aXb")
        XCTAssertEqual(try r("a\n{% if true %}\nb\n{% endif %}\nc"), "a\nb\nc")  // trim_blocks
        XCTAssertEqual(try r("a\n    {% if true %}b{% endif %}"), "a\nb")  // lstrip_blocks
        XCTAssertEqual(try r("a\n    {%+ if true %}b{% endif %}"), "a\n    b")  // lstrip disabled
        XCTAssertEqual(try r("{# comment #}\nz"), "z")
        XCTAssertEqual(try r("{{ x }}\nz"), "X\nz")  // variables keep their newline
    }
}

/// A flag set by one thread and read by others.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
