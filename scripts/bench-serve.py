#!/usr/bin/env python3
"""Benchmark of `swift-bon serve`: requests per second, latency percentiles and time to first
token at best_of = N, on this machine. Starts the server itself on a free loopback port, sends
a bounded number of requests, stops the server, and prints a Markdown table.

    python3 scripts/bench-serve.py --bin target/release/swift-bon --n 8 --max-tokens 64 \
        --requests 16 --concurrency 1,4

Wrap it in `flock /tmp/llama.lock` on a shared machine: llama.cpp's threads spin, and another
decode on the same cores slows both many times over. Standard library only.
"""

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time


def pct(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def request(host, port, body, stream):
    """Returns (status, seconds, ttft seconds or None, usage dict, extension dict)."""
    t0 = time.time()
    conn = http.client.HTTPConnection(host, port, timeout=600)
    conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200 or not stream:
        data = resp.read()
        dt = time.time() - t0
        conn.close()
        if resp.status != 200:
            return resp.status, dt, None, {}, {}
        v = json.loads(data)
        return 200, dt, dt, v["usage"], v["swift_bon"]
    ttft, usage, ext = None, {}, {}
    for raw in resp:
        line = raw.decode().strip()
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        v = json.loads(payload)
        for c in v.get("choices", []):
            if c.get("delta", {}).get("content") and ttft is None:
                ttft = time.time() - t0
        if v.get("usage"):
            usage = v["usage"]
        if v.get("swift_bon"):
            ext = v["swift_bon"]
    dt = time.time() - t0
    conn.close()
    return 200, dt, ttft, usage, ext


QUESTIONS = [f"What is {a} + {b}?" for a, b in [(47, 38), (12, 30), (25, 17), (63, 29), (8, 91), (54, 45), (33, 66), (71, 18)]]


def run_case(host, port, name, requests, concurrency, body_base, stream):
    results = []
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker():
        while True:
            with lock:
                try:
                    i = next(counter)
                except StopIteration:
                    return
            body = dict(body_base)
            body["messages"] = [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]
            body["seed"] = 1000 + i
            body["stream"] = stream
            if stream:
                body["stream_options"] = {"include_usage": True}
            r = request(host, port, body, stream)
            with lock:
                results.append(r)

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    ok = [r for r in results if r[0] == 200]
    lat = [r[1] for r in ok]
    ttft = [r[2] for r in ok if r[2] is not None]
    gen = sum(r[3].get("completion_tokens", 0) for r in ok)
    live = sum(1 for r in ok if r[4].get("stream") == "live_survivor")
    return {
        "case": name,
        "concurrency": concurrency,
        "requests": len(results),
        "ok": len(ok),
        "429": sum(1 for r in results if r[0] == 429),
        "req_s": len(ok) / wall,
        "p50": pct(lat, 0.5),
        "p90": pct(lat, 0.9),
        "p99": pct(lat, 0.99),
        "ttft_p50": pct(ttft, 0.5),
        "ttft_p90": pct(ttft, 0.9),
        "gen_tok_s": gen / wall,
        "live": live,
        "pruned_mean": statistics.mean([r[4].get("pruned", 0) for r in ok]) if ok else 0,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/swift-bon")
    ap.add_argument("--model", default=None)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--concurrency", default="1,4")
    ap.add_argument("--prune", default="top:0.5,warmup=8,every=8,min=1;top:0.125,warmup=8,every=8,min=1",
                    help="pruning policies of the streamed cases, separated by ';'")
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args()

    cmd = [a.bin, "serve", "--port", "0", "--n", str(a.n), "--max-tokens", str(a.max_tokens), "--queue", "64", "-q"]
    if a.model:
        cmd += ["-m", a.model]
    srv = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    try:
        line = srv.stdout.readline().strip()
        addr = line.removeprefix("listening on http://")
        host, port = addr.rsplit(":", 1)
        port = int(port)
        for _ in range(600):
            try:
                c = http.client.HTTPConnection(host, port, timeout=5)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        base = {"model": "smollm2-135m-arith", "max_tokens": a.max_tokens}
        # One warm-up request (page cache, first context).
        request(host, port, dict(base, messages=[{"role": "user", "content": "What is 1 + 1?"}]), False)
        rows = []
        for c in [int(x) for x in a.concurrency.split(",")]:
            rows.append(run_case(host, port, "plain", a.requests, c, base, False))
        rows.append(run_case(host, port, "stream", a.requests, 1, base, True))
        for policy in a.prune.split(";"):
            pruned = dict(base, swift_bon={"prune": policy})
            rows.append(run_case(host, port, f"stream, prune {policy}", a.requests, 1, pruned, True))
        rss = None
        try:
            with open(f"/proc/{srv.pid}/status") as f:
                for l in f:
                    if l.startswith("VmHWM:"):
                        rss = int(l.split()[1]) / 1024
        except OSError:
            pass
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=60)
        except subprocess.TimeoutExpired:
            srv.kill()
    print(f"best_of = {a.n}, max_tokens = {a.max_tokens}, {a.requests} requests per case, model smollm2-135m-arith; server peak RSS {rss:.0f} MB; exit {srv.returncode}")
    print()
    print("| case | clients | ok / 429 | req/s | latency p50 / p90 / p99 (s) | first text p50 / p90 (s) | generated tok/s | live streams | pruned / request |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['case']} | {r['concurrency']} | {r['ok']} / {r['429']} | {r['req_s']:.2f} | "
            f"{r['p50']:.2f} / {r['p90']:.2f} / {r['p99']:.2f} | {r['ttft_p50']:.2f} / {r['ttft_p90']:.2f} | "
            f"{r['gen_tok_s']:.0f} | {r['live']} | {r['pruned_mean']:.1f} |"
        )
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "peak_rss_mb": rss, "args": vars(a)}, f, indent=1)


if __name__ == "__main__":
    main()
