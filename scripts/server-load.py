#!/usr/bin/env python3
"""`persona serve` under load, on loopback only: 32 concurrent clients send, for a bounded time and
at most a bounded number of requests, a mix of valid, malformed, oversized, slow (trickled) and
abandoned (closed mid-request) requests. Checks: the server never dies, its resident memory stays
under a bound, and every valid answer (temperature 0) equals the answer to the same request served
alone before the load. Prints one summary line (the figure in BENCHMARKS.md).

    scripts/server-load.py [--binary .build/release/persona] [--model smollm2-135m]
                           [--clients 32] [--seconds 60] [--max-requests 2000] [--max-rss-mib 3072]
"""
import argparse, http.client, json, os, random, socket, subprocess, sys, threading, time

parser = argparse.ArgumentParser()
parser.add_argument("--binary", default=".build/release/persona")
parser.add_argument("--model", default="smollm2-135m")
parser.add_argument("--clients", type=int, default=32)
parser.add_argument("--seconds", type=float, default=60)
parser.add_argument("--max-requests", type=int, default=2000)
parser.add_argument("--max-rss-mib", type=float, default=3072)
parser.add_argument("--seed", type=int, default=1)
args = parser.parse_args()

server = subprocess.Popen([args.binary, "serve", args.model, "--host", "127.0.0.1", "--port", "0", "--max-queued", "256", "--quiet"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
port = None
started = time.time()
for line in server.stdout:
    # The start line names the address: ".../127.0.0.1:PORT..."
    if "127.0.0.1:" in line:
        tail = line.split("127.0.0.1:", 1)[1]
        digits = "".join(c for c in tail[:6] if c.isdigit())
        if digits: port = int(digits); break
    if time.time() - started > 120: break
if port is None:
    server.kill(); sys.exit("server did not report its port")
threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()   # keep draining its output

PROMPTS = ["Say hello.", "What is 2+2?", "Name a colour.", "What is a cat?", "Write one word.", "Count to three.", "What is rain?", "Who are you?"]
def body(prompt, tokens):
    return {"messages": [{"role": "user", "content": prompt}], "max_tokens": tokens, "temperature": 0}

def post(payload, timeout=300):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    c.request("POST", "/v1/chat/completions", body=data, headers={"Content-Type": "application/json"})
    r = c.getresponse(); text = r.read(); c.close()
    return r.status, text

def answer(text):
    return json.loads(text)["choices"][0]["message"]["content"]

# The answers alone, before any load.
alone = {}
for i, p in enumerate(PROMPTS):
    status, text = post(body(p, 8 + i % 3 * 4))
    if status != 200: server.kill(); sys.exit(f"alone: {p!r} -> {status} {text[:200]!r}")
    alone[p] = answer(text)

def rss_mib():
    with open(f"/proc/{server.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
    return 0.0

lock = threading.Lock()
counts = {k: 0 for k in ["valid", "valid_ok", "valid_busy", "mismatch", "malformed", "oversized", "slow", "abandoned", "unexpected"]}
failures, peak = [], [rss_mib()]
deadline = time.time() + args.seconds
issued = [0]

def take():
    with lock:
        if issued[0] >= args.max_requests or time.time() > deadline: return False
        issued[0] += 1; return True

def count(key, note=None):
    with lock:
        counts[key] += 1
        if note and len(failures) < 20: failures.append(note)

def client(index):
    rng = random.Random(args.seed * 1000 + index)
    while take():
        kind = rng.choices(["valid", "malformed", "oversized", "slow", "abandoned"], [50, 15, 10, 10, 15])[0]
        try:
            if kind == "valid":
                i = rng.randrange(len(PROMPTS)); p = PROMPTS[i]
                status, text = post(body(p, 8 + i % 3 * 4))
                count("valid")
                if status == 200:
                    if answer(text) == alone[p]: count("valid_ok")
                    else: count("mismatch", f"{p!r}: {answer(text)!r} != {alone[p]!r}")
                elif status in (429, 503): count("valid_busy")
                else: count("unexpected", f"valid -> {status} {text[:120]!r}")
            elif kind == "malformed":
                payload = rng.choice([b"{", b"[]", b'{"messages": 3}', b'{"messages": [{"role": "user"}]}', bytes(rng.randrange(256) for _ in range(64)),
                                      json.dumps({"messages": [{"role": "user", "content": "x"}], "max_tokens": -5}).encode()])
                status, text = post(payload)
                count("malformed") if 400 <= status < 500 else count("unexpected", f"malformed {payload[:60]!r} -> {status}")
            elif kind == "oversized":
                status, text = post(body("a" * (2 << 20), 4))
                count("oversized") if status in (400, 413) else count("unexpected", f"oversized -> {status}")
            elif kind == "slow":
                data = json.dumps(body(PROMPTS[0], 4)).encode()
                s = socket.create_connection(("127.0.0.1", port), timeout=300)
                s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data))
                for k in range(0, len(data), 16): s.sendall(data[k:k + 16]); time.sleep(0.02)
                reply = s.recv(65536); s.close()
                count("slow") if reply.startswith(b"HTTP/1.1 ") else count("unexpected", "slow: no status line")
            else:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                data = json.dumps(body(PROMPTS[1], 64)).encode()
                if rng.random() < 0.5:   # headers and half a body, then gone
                    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(data) + data[: len(data) // 2])
                else:                    # a whole request, gone before the answer
                    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
                    time.sleep(0.05)
                s.close(); count("abandoned")
        except Exception as e:
            count("unexpected", f"{kind}: {type(e).__name__}: {e}")
        with lock: peak[0] = max(peak[0], rss_mib())
        if server.poll() is not None: return

t0 = time.time()
threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
for t in threads: t.start()
while any(t.is_alive() for t in threads):
    with lock: peak[0] = max(peak[0], rss_mib()) if server.poll() is None else peak[0]
    time.sleep(0.5)
elapsed = time.time() - t0
alive = server.poll() is None
# After the load the server still answers, and the same way.
after_ok = alive and post(body(PROMPTS[0], 8))[1] and answer(post(body(PROMPTS[0], 8))[1]) == alone[PROMPTS[0]]
server.terminate(); server.wait(timeout=30)
ok = alive and after_ok and counts["mismatch"] == 0 and counts["unexpected"] == 0 and peak[0] <= args.max_rss_mib and counts["valid_ok"] > 0
print(f"server-load: {issued[0]} requests from {args.clients} clients in {elapsed:.1f} s; " + ", ".join(f"{k} {v}" for k, v in counts.items())
      + f"; peak RSS {peak[0]:.0f} MiB (bound {args.max_rss_mib:.0f}); server alive {alive}; answers after load equal {bool(after_ok)}; {'PASS' if ok else 'FAIL'}")
for f in failures: print("  " + f)
sys.exit(0 if ok else 1)
