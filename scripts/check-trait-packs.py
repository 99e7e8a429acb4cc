#!/usr/bin/env python3
"""Check TraitPacks/*/pack.json against the schema in Sources/PersonaCore/Packs/TraitPack.swift."""
import json, os, re, sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "TraitPacks")
EXPECTED = ["evil", "sycophantic", "hallucinating", "impolite", "optimistic", "humorous", "apathetic"]
KEYS = ["name", "description", "assistant_name", "instructions", "questions", "eval_prompt"]

def norm(s):
    return re.sub(r"\s+", " ", s.strip().lower())

failures = 0
for name in EXPECTED:
    path = os.path.join(ROOT, name, "pack.json")
    errs = []
    try:
        raw = open(path, "rb").read()
        text = raw.decode("utf-8")
        pack = json.loads(text)
    except Exception as e:
        print(f"FAIL {path}: {e}"); failures += 1; continue
    if list(pack.keys()) != KEYS:
        errs.append(f"keys {list(pack.keys())} != {KEYS}")
    if json.dumps(pack, indent=2, ensure_ascii=False) + "\n" != text:
        errs.append("not in canonical 2-space indentation")
    if pack.get("name") != name or not re.fullmatch(r"[a-z0-9_-]+", pack.get("name", "")):
        errs.append(f"name {pack.get('name')!r}")
    for k in ("description", "assistant_name", "eval_prompt"):
        if not isinstance(pack.get(k), str) or not pack[k].strip():
            errs.append(f"{k} empty or not a string")
    ins = pack.get("instructions", [])
    if len(ins) != 5:
        errs.append(f"{len(ins)} instruction pairs")
    for i, p in enumerate(ins):
        if not isinstance(p, dict) or sorted(p.keys()) != ["neg", "pos"] or not p["pos"].strip() or not p["neg"].strip():
            errs.append(f"instruction {i} malformed")
    q = pack.get("questions", {})
    if sorted(q.keys()) != ["evaluation", "extraction"]:
        errs.append(f"questions keys {sorted(q.keys())}")
    ex, ev = q.get("extraction", []), q.get("evaluation", [])
    if len(ex) != 20 or len(ev) != 20:
        errs.append(f"{len(ex)} extraction / {len(ev)} evaluation questions")
    allq = [norm(x) for x in ex + ev]
    if any(not x for x in allq):
        errs.append("empty question")
    dups = {x for x in allq if allq.count(x) > 1}
    if dups:
        errs.append(f"duplicate questions: {sorted(dups)}")
    allins = [norm(p.get(k, "")) for p in ins if isinstance(p, dict) for k in ("pos", "neg")]
    if len(set(allins)) != len(allins):
        errs.append("duplicate instruction texts")
    ep = pack.get("eval_prompt", "")
    for ph in ("{question}", "{answer}"):
        if ep.count(ph) != 1:
            errs.append(f"eval_prompt has {ep.count(ph)} x {ph}")
    if re.search(r"\{(?!question\}|answer\})", ep):
        errs.append("eval_prompt has other '{' placeholders")
    if "REFUSAL" not in ep:
        errs.append("eval_prompt does not mention REFUSAL")
    if not re.search(r"\b0 to 100\b|\b0\s*[–-]\s*100\b", ep):
        errs.append("eval_prompt does not mention 0-100")
    if errs:
        failures += 1
        print(f"FAIL {path}:"); [print("  - " + e) for e in errs]
    else:
        print(f"ok   {path}: 5 pairs, {len(ex)}+{len(ev)} questions, eval_prompt {len(ep)} chars")
print(f"{len(EXPECTED) - failures}/{len(EXPECTED)} packs pass")
sys.exit(1 if failures else 0)
