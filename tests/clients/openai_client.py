"""Talks to a running `swift-bon serve` with the official `openai` Python package, as a desktop
app would, and checks what comes back. Used by tests/serve.rs; also runnable by hand:

    python3 tests/clients/openai_client.py http://127.0.0.1:8080/v1

Prints one JSON line of measurements on stdout; any failed check raises (exit status 1).
"""

import json
import sys
import time

import openai

base_url = sys.argv[1]
api_key = sys.argv[2] if len(sys.argv) > 2 else "unused"
client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=120)
out = {}

# models.list(): one id per head made for the model, and plain majority vote.
ids = [m.id for m in client.models.list()]
assert "smollm2-135m-arith" in ids, ids
assert "smollm2-135m-majority" in ids, ids
out["models"] = ids

question = [{"role": "user", "content": "What is 47 + 38?"}]
common = dict(model="smollm2-135m-arith", messages=question, max_tokens=40, seed=7)

# Non-streaming.
t0 = time.time()
r = client.chat.completions.create(**common, extra_body={"best_of": 4})
out["chat_s"] = round(time.time() - t0, 3)
text = r.choices[0].message.content
assert r.object == "chat.completion", r
assert text, r
assert r.choices[0].finish_reason in ("stop", "length"), r.choices[0].finish_reason
ext = r.model_extra["swift_bon"]
assert ext["best_of"] == 4 and len(ext["candidates"]) == 4, ext
assert ext["selector"] == "swift", ext
assert sum(c["tokens"] for c in ext["candidates"]) == r.usage.completion_tokens, (ext, r.usage)
assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
chosen = [c for c in ext["candidates"] if c["chosen"]]
assert len(chosen) == 1 and chosen[0]["score"] is not None, ext
out["answer"] = ext["answer"]
out["text"] = text

# Streaming, same seed: the reassembled text is the same answer.
t0 = time.time()
stream = client.chat.completions.create(
    **common, stream=True, stream_options={"include_usage": True}, extra_body={"best_of": 4}
)
parts, first, last_ext, usage, finish = [], None, None, None, None
for chunk in stream:
    if chunk.choices:
        d = chunk.choices[0].delta
        if d.content:
            if first is None:
                first = time.time() - t0
            parts.append(d.content)
        if chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    if chunk.usage:
        usage = chunk.usage
    if (chunk.model_extra or {}).get("swift_bon"):
        last_ext = chunk.model_extra["swift_bon"]
streamed = "".join(parts)
assert streamed == text, (streamed, text)
assert usage is not None and usage.completion_tokens == r.usage.completion_tokens, usage
assert finish in ("stop", "length"), finish
assert last_ext["stream"] == "after_choice", last_ext
out["stream_ttft_s"] = round(first, 3)
out["stream_total_s"] = round(time.time() - t0, 3)
out["server_ttft_s"] = last_ext["timings"]["ttft_s"]

# Pruning down to one survivor: it streams live, and is still the same answer.
prune = {"best_of": 4, "swift_bon": {"prune": "top:0.25,warmup=4,every=4,min=1"}}
r1 = client.chat.completions.create(**common, extra_body=prune)
t0 = time.time()
stream = client.chat.completions.create(**common, stream=True, extra_body=prune)
parts, first, last_ext = [], None, None
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        if first is None:
            first = time.time() - t0
        parts.append(chunk.choices[0].delta.content)
    if (chunk.model_extra or {}).get("swift_bon"):
        last_ext = chunk.model_extra["swift_bon"]
assert "".join(parts) == r1.choices[0].message.content, (parts, r1.choices[0].message.content)
assert last_ext["pruned"] == 3, last_ext
assert last_ext["stream"] == "live_survivor", last_ext
out["live_ttft_s"] = round(first, 3)
out["live_total_s"] = round(time.time() - t0, 3)

# n choices from best_of candidates, best first.
r2 = client.chat.completions.create(**common, n=2, extra_body={"best_of": 4})
assert len(r2.choices) == 2 and [c.index for c in r2.choices] == [0, 1], r2.choices
assert r2.choices[0].message.content == text

# Plain majority vote by model id; logprobs.
r3 = client.chat.completions.create(
    model="smollm2-135m-majority", messages=question, max_tokens=24, seed=3, logprobs=True,
    extra_body={"best_of": 3},
)
assert r3.model_extra["swift_bon"]["selector"] == "majority"
lp = r3.choices[0].logprobs.content
assert lp and all(t.logprob <= 0 for t in lp), lp
assert "".join(t.token for t in lp).strip()

# The legacy completions endpoint.
c = client.completions.create(
    model="smollm2-135m-arith", prompt="What is 12 + 30?", max_tokens=32, seed=1, best_of=2
)
assert c.object == "text_completion" and c.choices[0].text, c

# Errors surface as the client's exception types.
try:
    client.chat.completions.create(model="no-such-model", messages=question, max_tokens=8)
    raise AssertionError("unknown model accepted")
except openai.NotFoundError as e:
    assert e.status_code == 404 and "no-such-model" in str(e), e
try:
    client.chat.completions.create(**{**common, "max_tokens": 10**6})
    raise AssertionError("huge max_tokens accepted")
except openai.BadRequestError as e:
    assert "max_tokens" in str(e), e
out["ok"] = True
print(json.dumps(out))
