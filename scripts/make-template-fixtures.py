#!/usr/bin/env python3
"""Renders the test chat templates with Python's jinja2 the way Hugging Face transformers does
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, tojson with ensure_ascii=False,
raise_exception, strftime_now at a fixed date) and writes the expected outputs the Swift tests
compare against. Run once after changing a template; Python is not needed by the tests."""
import json, os, datetime
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.exceptions import TemplateError

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Tests", "PersonaModelTests", "Fixtures", "templates")
REFERENCE = os.path.join(HERE, "..", "..", "shared", "reference")
NOW = datetime.datetime(2026, 11, 24, 12, 0, 0)

class Raised(Exception):
    pass

def raise_exception(message):
    raise Raised(message)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

def render(source, context):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: NOW.strftime(fmt)
    try:
        return {"text": env.from_string(source).render(**context)}
    except Raised as e:
        return {"error": str(e)}

conversations = {
    "user": [{"role": "user", "content": "What is the capital of France?"}],
    "system_user": [{"role": "system", "content": "  You are terse.  "}, {"role": "user", "content": "Hi there"}],
    "multi_turn": [
        {"role": "system", "content": "You are a helpful coding assistant."},
        {"role": "user", "content": "Write a function."},
        {"role": "assistant", "content": "def f():\n    return 1  "},
        {"role": "user", "content": "Now add a docstring — please, with ünïcode."},
    ],
    "bad_alternation": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
}
tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city — «quoted»",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]

templates = {}
for name in ["llama31-style", "mistral-style"]:
    with open(os.path.join(FIXTURES, name + ".jinja")) as f:
        templates[name] = f.read()
for name, file in [("smollm2", "smollm2-135m.json"), ("qwen2.5", "qwen2.5-coder-0.5b.json")]:
    with open(os.path.join(REFERENCE, file)) as f:
        templates[name] = json.load(f)["chat_template"]["template"]

cases = []
for tname, source in templates.items():
    for cname, messages in conversations.items():
        for agp in (True, False):
            for with_tools in ((False, True) if tname in ("qwen2.5", "llama31-style") else (False,)):
                context = {"messages": messages, "add_generation_prompt": agp, "bos_token": "<s>", "eos_token": "</s>"}
                if with_tools:
                    context["tools"] = tools
                out = render(source, context)
                cases.append({"template": tname, "conversation": cname, "add_generation_prompt": agp,
                              "tools": with_tools, **out})

with open(os.path.join(FIXTURES, "features.jinja")) as f:
    features = f.read()
feature_context = {"items": [1, 2, 3, 4, 5], "data": {"name": "Ada", "tags": ["x", "y"], "n": 1.5}}
expected = {"cases": cases, "features": render(features, feature_context), "feature_context": feature_context,
            "now": NOW.isoformat()}
with open(os.path.join(FIXTURES, "expected.json"), "w") as f:
    json.dump(expected, f, ensure_ascii=False, indent=1)
print(f"wrote {len(cases)} cases")
