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
                let messages = c.list("messages").compactMap { $0 as? [String: Any] }.map { ChatMessage(role: $0.string("role") ?? "", content: $0.string("content") ?? "") }
                let text = try template.render(messages: messages, addGenerationPrompt: (c["add_generation_prompt"] as? Bool) ?? true)
                XCTAssertEqual(text, c.string("text"), name)
                XCTAssertEqual(tokenizer.encode(text), c.ints("ids"), name)
            }
            // The template in the model file is the reference's.
            XCTAssertEqual(try GGUFFile(path: TestPaths.model(name)).string("tokenizer.chat_template"), reference.string("template"))
        }
    }

    static let tools: JinjaValue = .array([.dict([
        ("type", .string("function")),
        ("function", .dict([
            ("name", .string("get_weather")), ("description", .string("Weather for a city — «quoted»")),
            ("parameters", .dict([("type", .string("object")), ("properties", .dict([("city", .dict([("type", .string("string"))]))])),
                                  ("required", .array([.string("city")]))])),
        ])),
    ])])

    static let conversations: [String: [ChatMessage]] = [
        "user": [ChatMessage(role: "user", content: "What is the capital of France?")],
        "system_user": [ChatMessage(role: "system", content: "  You are terse.  "), ChatMessage(role: "user", content: "Hi there")],
        "multi_turn": [
            ChatMessage(role: "system", content: "You are a helpful coding assistant."),
            ChatMessage(role: "user", content: "Write a function."),
            ChatMessage(role: "assistant", content: "def f():\n    return 1  "),
            ChatMessage(role: "user", content: "Now add a docstring — please, with ünïcode."),
        ],
        "bad_alternation": [ChatMessage(role: "user", content: "a"), ChatMessage(role: "user", content: "b")],
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
                let text = try template.render(messages: Self.conversations[conversation]!, addGenerationPrompt: c["add_generation_prompt"] as? Bool ?? false,
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
            "data": .dict([("name", .string("Ada")), ("tags", .array([.string("x"), .string("y")])), ("n", .double(1.5))]),
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

    func testWhitespaceControl() throws {
        func r(_ s: String) throws -> String { try JinjaTemplate(source: s).render(["x": .string("X")]) }
        XCTAssertEqual(try r("a  {{- x -}}  b"), "aXb")
        XCTAssertEqual(try r("a\n{% if true %}\nb\n{% endif %}\nc"), "a\nb\nc")       // trim_blocks
        XCTAssertEqual(try r("a\n    {% if true %}b{% endif %}"), "a\nb")            // lstrip_blocks
        XCTAssertEqual(try r("a\n    {%+ if true %}b{% endif %}"), "a\n    b")       // lstrip disabled
        XCTAssertEqual(try r("{# comment #}\nz"), "z")
        XCTAssertEqual(try r("{{ x }}\nz"), "X\nz")                                  // variables keep their newline
    }
}
