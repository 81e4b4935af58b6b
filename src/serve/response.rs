//! Building OpenAI responses from a Best-of-N [`Answer`]: `choices[0]` is always the selected
//! candidate, the other choices follow best first; `usage` counts the prompt once and every
//! candidate's generated tokens; the `swift_bon` extension object carries every candidate's
//! score, whether it was pruned, the selector and timings.

use serde::Serialize;
use serde_json::{json, Value};

use crate::bon::{Answer, CandidateReport, Selection};
use crate::engine::FinishReason;
use crate::select::sigmoid;

/// OpenAI's `finish_reason` for a candidate.
pub fn finish_reason(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Eos | FinishReason::Stop => "stop",
        // A pruned candidate's text was cut, as at the token limit.
        FinishReason::Length | FinishReason::Pruned => "length",
    }
}

/// Candidate order for `choices`: the chosen one, then the other unpruned candidates by the
/// selection's own preference, then pruned ones.
pub fn rank(answer: &Answer) -> Vec<usize> {
    let c = &answer.candidates;
    // Vote weight of each candidate's answer (count, or sum of sigmoid scores).
    let weight_of = |i: usize| -> f64 {
        let Some(a) = c[i].answer.as_deref() else {
            return 0.0;
        };
        c.iter()
            .filter(|o| !o.pruned && o.answer.as_deref() == Some(a))
            .map(|o| match answer.selection {
                Selection::SwiftVote => o.swift_score.map_or(0.0, sigmoid),
                _ => 1.0,
            })
            .sum()
    };
    let key = |i: usize| -> (f64, f64) {
        let score = c[i]
            .swift_score
            .filter(|s| !s.is_nan())
            .unwrap_or(f64::NEG_INFINITY);
        let lp = if c[i].mean_logprob.is_nan() {
            f64::NEG_INFINITY
        } else {
            c[i].mean_logprob
        };
        match answer.selection {
            Selection::Swift => (score, lp),
            Selection::SwiftVote => (weight_of(i), score),
            Selection::Majority => (weight_of(i), lp),
            Selection::Logprob => (lp, score),
        }
    };
    let mut rest: Vec<usize> = (0..c.len()).filter(|&i| i != answer.chosen).collect();
    rest.sort_by(|&a, &b| {
        c[a].pruned
            .cmp(&c[b].pruned)
            .then_with(|| {
                let (ka, kb) = (key(a), key(b));
                kb.0.total_cmp(&ka.0).then(kb.1.total_cmp(&ka.1))
            })
            .then(a.cmp(&b))
    });
    let mut order = Vec::with_capacity(c.len());
    if answer.chosen < c.len() {
        order.push(answer.chosen);
    }
    order.extend(rest);
    order
}

/// One token's log-probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenLogprob {
    /// The token's text.
    pub token: String,
    /// Its log-probability.
    pub logprob: f32,
    /// Its UTF-8 bytes.
    pub bytes: Vec<u8>,
}

/// Timings the server adds to a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ServeTimings {
    /// Time waiting in the queue (s).
    pub queued_s: f64,
    /// From the request's arrival to the first text sent (s); with no streaming, the whole
    /// request.
    pub ttft_s: Option<f64>,
    /// From the request's arrival to the answer (s).
    pub total_s: f64,
}

/// How a streamed answer's text was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamMode {
    /// Not streamed.
    None,
    /// After the answer was chosen.
    AfterChoice,
    /// Live, once pruning left one candidate (or when only one was sampled).
    LiveSurvivor,
}

/// What a response is made from.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// The Best-of-N result.
    pub answer: &'a Answer,
    /// The model id.
    pub model: &'a str,
    /// The head used, if any.
    pub head: Option<&'a str>,
    /// Response id.
    pub id: &'a str,
    /// Unix time.
    pub created: u64,
    /// Choices to return.
    pub n: usize,
    /// Timings.
    pub timings: ServeTimings,
    /// Per-candidate token log-probabilities, when asked for.
    pub logprobs: Option<&'a [Vec<TokenLogprob>]>,
    /// How it was streamed.
    pub stream: StreamMode,
}

/// `usage`: the prompt once (it is decoded once for all candidates), and every candidate's
/// generated tokens.
pub fn usage(answer: &Answer) -> Value {
    json!({
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.generated_tokens,
        "total_tokens": answer.prompt_tokens + answer.generated_tokens,
    })
}

fn candidate_json(c: &CandidateReport) -> Value {
    json!({
        "index": c.index,
        "score": c.swift_score.filter(|s| s.is_finite()),
        "mean_logprob": Some(c.mean_logprob).filter(|s| s.is_finite()),
        "answer": c.answer,
        "tokens": c.tokens,
        "decoded_tokens": c.decoded_tokens,
        "finish": c.finish.as_str(),
        "pruned": c.pruned,
        "chosen": c.chosen,
    })
}

/// The `swift_bon` extension object.
pub fn extension(s: &Served<'_>) -> Value {
    let a = s.answer;
    json!({
        "selector": a.selection.as_str(),
        "head": s.head,
        "best_of": a.candidates.len(),
        "chosen": a.chosen,
        "answer": a.answer,
        "prune": a.prune,
        "pruned": a.n_pruned(),
        "early_stopped": a.early_stopped,
        "seed": a.seed,
        "decoded_tokens": a.decoded_tokens,
        "stream": s.stream,
        "candidates": a.candidates.iter().map(candidate_json).collect::<Vec<_>>(),
        "timings": {
            "queued_s": s.timings.queued_s,
            "prefill_s": a.timing.prefill_s,
            "generate_s": a.timing.generate_s,
            "bon_total_s": a.timing.total_s,
            "ttft_s": s.timings.ttft_s,
            "total_s": s.timings.total_s,
            "steps": a.timing.steps,
        },
    })
}

fn chosen_order(s: &Served<'_>) -> Vec<usize> {
    let mut order = rank(s.answer);
    order.truncate(s.n.max(1));
    order
}

/// Chat `logprobs` of one choice.
pub fn chat_logprobs(tokens: &[TokenLogprob]) -> Value {
    json!({
        "content": tokens.iter().map(|t| json!({
            "token": t.token,
            "logprob": t.logprob,
            "bytes": t.bytes,
            "top_logprobs": [],
        })).collect::<Vec<_>>(),
        "refusal": null,
    })
}

/// Legacy completions `logprobs` of one choice.
pub fn completion_logprobs(tokens: &[TokenLogprob]) -> Value {
    let mut offset = 0usize;
    let mut offsets = Vec::with_capacity(tokens.len());
    for t in tokens {
        offsets.push(offset);
        offset += t.token.len();
    }
    json!({
        "tokens": tokens.iter().map(|t| &t.token).collect::<Vec<_>>(),
        "token_logprobs": tokens.iter().map(|t| t.logprob).collect::<Vec<_>>(),
        "top_logprobs": null,
        "text_offset": offsets,
    })
}

/// A `chat.completion` object.
pub fn chat_completion(s: &Served<'_>) -> Value {
    let choices: Vec<Value> = chosen_order(s)
        .into_iter()
        .enumerate()
        .map(|(k, i)| {
            let c = &s.answer.candidates[i];
            json!({
                "index": k,
                "message": {"role": "assistant", "content": c.text, "refusal": null},
                "finish_reason": finish_reason(c.finish),
                "logprobs": s.logprobs.map(|l| chat_logprobs(&l[i])),
            })
        })
        .collect();
    json!({
        "id": s.id,
        "object": "chat.completion",
        "created": s.created,
        "model": s.model,
        "system_fingerprint": null,
        "choices": choices,
        "usage": usage(s.answer),
        "swift_bon": extension(s),
    })
}

/// A `text_completion` object.
pub fn text_completion(s: &Served<'_>) -> Value {
    let choices: Vec<Value> = chosen_order(s)
        .into_iter()
        .enumerate()
        .map(|(k, i)| {
            let c = &s.answer.candidates[i];
            json!({
                "index": k,
                "text": c.text,
                "finish_reason": finish_reason(c.finish),
                "logprobs": s.logprobs.map(|l| completion_logprobs(&l[i])),
            })
        })
        .collect();
    json!({
        "id": s.id,
        "object": "text_completion",
        "created": s.created,
        "model": s.model,
        "choices": choices,
        "usage": usage(s.answer),
        "swift_bon": extension(s),
    })
}

/// Where a streamed chunk goes.
#[derive(Debug, Clone, Copy)]
pub struct ChunkHead<'a> {
    /// Response id.
    pub id: &'a str,
    /// Unix time.
    pub created: u64,
    /// Model id.
    pub model: &'a str,
    /// Chat or completions.
    pub chat: bool,
}

/// A streamed chunk: text delta of choice `index` (`role` on the first chat chunk), with its
/// finish reason on the last.
pub fn chunk(
    h: &ChunkHead<'_>,
    index: usize,
    role: bool,
    text: Option<&str>,
    finish: Option<&str>,
) -> Value {
    if h.chat {
        let mut delta = serde_json::Map::new();
        if role {
            delta.insert("role".into(), json!("assistant"));
        }
        if let Some(t) = text {
            delta.insert("content".into(), json!(t));
        }
        json!({
            "id": h.id,
            "object": "chat.completion.chunk",
            "created": h.created,
            "model": h.model,
            "system_fingerprint": null,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish, "logprobs": null}],
        })
    } else {
        json!({
            "id": h.id,
            "object": "text_completion",
            "created": h.created,
            "model": h.model,
            "choices": [{"index": index, "text": text.unwrap_or(""), "finish_reason": finish, "logprobs": null}],
        })
    }
}

/// The last chunk: no choices, with `usage` and the extension object.
pub fn final_chunk(h: &ChunkHead<'_>, s: &Served<'_>, with_usage: bool) -> Value {
    json!({
        "id": h.id,
        "object": if h.chat { "chat.completion.chunk" } else { "text_completion" },
        "created": h.created,
        "model": h.model,
        "choices": [],
        "usage": if with_usage { usage(s.answer) } else { Value::Null },
        "swift_bon": extension(s),
    })
}

/// One entry of `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelEntry {
    /// The id clients send as `model`.
    pub id: String,
    /// The head it uses, if any.
    pub head: Option<String>,
    /// The head's task family.
    pub task: Option<String>,
    /// Where the head came from.
    pub head_origin: Option<String>,
    /// The default selection.
    pub selector: Selection,
}

/// The `GET /v1/models` list.
pub fn model_list(models: &[ModelEntry], created: u64) -> Value {
    json!({
        "object": "list",
        "data": models.iter().map(|m| json!({
            "id": m.id,
            "object": "model",
            "created": created,
            "owned_by": "swift-bon",
            "swift_bon": {"head": m.head, "task": m.task, "head_origin": m.head_origin, "selector": m.selector},
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bon::AnswerTiming;

    fn cand(i: usize, answer: &str, score: f64, lp: f64, pruned: bool) -> CandidateReport {
        CandidateReport {
            index: i,
            text: format!("text {i}"),
            answer: Some(answer.to_string()),
            swift_score: Some(score),
            tokens: 3,
            decoded_tokens: 3,
            mean_logprob: lp,
            finish: if pruned {
                FinishReason::Pruned
            } else {
                FinishReason::Eos
            },
            pruned,
            chosen: false,
            token_ids: vec![],
            token_logprobs: vec![],
        }
    }

    fn answer(selection: Selection, chosen: usize, cands: Vec<CandidateReport>) -> Answer {
        let mut cands = cands;
        cands[chosen].chosen = true;
        Answer {
            text: cands[chosen].text.clone(),
            answer: cands[chosen].answer.clone(),
            chosen,
            selection,
            prompt_tokens: 10,
            generated_tokens: cands.iter().map(|c| c.tokens).sum(),
            decoded_tokens: 12,
            candidates: cands,
            prune: None,
            early_stopped: false,
            seed: 1,
            timing: AnswerTiming::default(),
        }
    }

    #[test]
    fn chosen_first_then_by_the_selection_pruned_last() {
        let cands = vec![
            cand(0, "5", 0.1, -1.0, false),
            cand(1, "6", 3.0, -0.1, true),
            cand(2, "5", 2.0, -2.0, false),
            cand(3, "7", 1.0, -0.5, false),
        ];
        let a = answer(Selection::Swift, 2, cands.clone());
        assert_eq!(rank(&a), vec![2, 3, 0, 1]);
        let a = answer(Selection::Majority, 0, cands.clone());
        // "5" has two votes (0 and 2); then 3 ("7"); pruned 1 last.
        assert_eq!(rank(&a), vec![0, 2, 3, 1]);
        let a = answer(Selection::Logprob, 3, cands);
        assert_eq!(rank(&a), vec![3, 0, 2, 1]);
    }

    #[test]
    fn a_chat_completion_has_the_openai_fields_and_honest_usage() {
        let a = answer(
            Selection::Swift,
            1,
            vec![
                cand(0, "1", 0.0, -1.0, false),
                cand(1, "2", 1.0, -1.0, false),
            ],
        );
        let s = Served {
            answer: &a,
            model: "m-arith",
            head: Some("m-arith"),
            id: "chatcmpl-1",
            created: 5,
            n: 2,
            timings: ServeTimings::default(),
            logprobs: None,
            stream: StreamMode::None,
        };
        let v = chat_completion(&s);
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"][0]["message"]["content"], "text 1");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["choices"][1]["index"], 1);
        assert_eq!(v["choices"][1]["message"]["content"], "text 0");
        assert_eq!(v["usage"]["prompt_tokens"], 10);
        assert_eq!(v["usage"]["completion_tokens"], 6);
        assert_eq!(v["usage"]["total_tokens"], 16);
        assert_eq!(v["swift_bon"]["selector"], "swift");
        assert_eq!(v["swift_bon"]["candidates"][1]["score"], 1.0);
        assert_eq!(v["swift_bon"]["candidates"][1]["chosen"], true);
        let t = text_completion(&Served { n: 1, ..s });
        assert_eq!(t["choices"].as_array().unwrap().len(), 1);
        assert_eq!(t["choices"][0]["text"], "text 1");
    }

    #[test]
    fn chunks_and_logprobs() {
        let h = ChunkHead {
            id: "x",
            created: 1,
            model: "m",
            chat: true,
        };
        let c = chunk(&h, 0, true, None, None);
        assert_eq!(c["choices"][0]["delta"]["role"], "assistant");
        assert!(c["choices"][0]["delta"].get("content").is_none());
        let c = chunk(&h, 0, false, Some("hi"), Some("stop"));
        assert_eq!(c["choices"][0]["delta"]["content"], "hi");
        assert_eq!(c["choices"][0]["finish_reason"], "stop");
        let t = [
            TokenLogprob {
                token: "ab".into(),
                logprob: -0.5,
                bytes: b"ab".to_vec(),
            },
            TokenLogprob {
                token: "c".into(),
                logprob: -1.0,
                bytes: b"c".to_vec(),
            },
        ];
        assert_eq!(completion_logprobs(&t)["text_offset"], json!([0, 2]));
        assert_eq!(chat_logprobs(&t)["content"][1]["token"], "c");
    }
}
