//! `swift-bon serve` as clients use it: the official `openai` Python package and curl, a
//! bad-input matrix, a bounded load test with a client killed mid-request, and a clean shutdown.
//! Loopback only; every loop is bounded; every server is stopped by the test.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A running server.
struct Server {
    child: Option<Child>,
    addr: String,
    stderr: Arc<Mutex<String>>,
    _heads: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let model = common::smollm2();
        // No installed heads of this user: the shipped ones only.
        let heads = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_swift-bon"))
            .args(["serve", "--port", "0", "-m", model.to_str().unwrap()])
            .args(extra)
            .env(swift_bon::locate::HEADS_DIR_ENV, heads.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start swift-bon serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let pipe = child.stderr.take().unwrap();
            let log = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let server = Self {
            child: Some(child),
            addr,
            stderr,
            _heads: heads,
        };
        // Ready within a bounded wait (503 while loading).
        let t0 = Instant::now();
        loop {
            if let Ok(r) = server.try_request("GET", "/health", &[], None) {
                if r.status == 200 {
                    break;
                }
                assert_eq!(r.status, 503, "{}", r.body);
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "not ready: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> std::io::Result<Reply> {
        http(&self.addr, method, path, headers, body)
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log()))
    }

    fn post(&self, path: &str, body: &Value) -> Reply {
        self.request(
            "POST",
            path,
            &[("content-type", "application/json")],
            Some(body.to_string().as_bytes()),
        )
    }

    /// Peak resident memory so far (kB), from /proc.
    fn peak_rss_kb(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        s.lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }

    /// SIGTERM, then the exit status within a bounded wait.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let t0 = Instant::now();
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return (st, self.log());
            }
            if t0.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("server did not stop within 60 s: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {:?}", self.status, self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// Asserts an OpenAI error object with this status whose message contains `needle`.
    fn assert_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        let v = self.json();
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
        assert!(
            v["error"]["type"].is_string() && v["error"]["code"].is_string(),
            "{v}"
        );
    }
}

/// A minimal HTTP/1.1 client (Connection: close; chunked bodies decoded).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    if let Some(b) = body {
        // A server refusing a large body may answer (and close) before it is all sent.
        let _ = s.write_all(b);
    }
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        if raw.is_empty() {
            return Err(e);
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// The `data:` payloads of an event stream.
fn sse_data(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
        .map(str::to_string)
        .collect()
}

fn chat(content: &str, extra: Value) -> Value {
    let mut v = json!({
        "model": "smollm2-135m-arith",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 24,
        "seed": 5,
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn have_openai() -> bool {
    Command::new("python3")
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_openai_python_client_and_curl() {
    assert!(
        have_openai(),
        "the official `openai` Python package is missing: `python3 -m pip install openai` (.ci/run does this)"
    );
    let _serial = common::serial();
    let server = Server::start(&["--n", "4", "--max-tokens", "40"]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/openai_client.py"
    );
    let out = Command::new("python3")
        .args([script, &format!("{}/v1", server.url())])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client failed:\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("openai client: {report}");
    assert_eq!(report["ok"], true);

    // curl, as in the README.
    let curl = |args: &[&str]| {
        let o = Command::new("curl")
            .args(["-sS", "--max-time", "120"])
            .args(args)
            .output()
            .expect("curl");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let url = format!("{}/v1/chat/completions", server.url());
    let body = chat("What is 47 + 38?", json!({"max_tokens": 40})).to_string();
    let plain: Value = serde_json::from_str(&curl(&[
        &url,
        "-H",
        "Content-Type: application/json",
        "-d",
        &body,
    ]))
    .unwrap();
    let text = plain["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!text.is_empty());
    let streamed_body = chat(
        "What is 47 + 38?",
        json!({"max_tokens": 40, "stream": true}),
    );
    let sse = curl(&[
        "-N",
        &url,
        "-H",
        "Content-Type: application/json",
        "-d",
        &streamed_body.to_string(),
    ]);
    let data = sse_data(&sse);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{sse}");
    let joined: String = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(joined, text, "curl stream vs plain");
    let (status, log) = server.stop();
    assert!(status.success(), "exit {status:?}: {log}");
}

#[test]
fn bad_inputs_get_the_right_status_and_a_clear_message() {
    let _serial = common::serial();
    let server = Server::start(&[
        "--api-key",
        "sekret",
        "--ctx-size",
        "256",
        "--max-tokens-limit",
        "512",
        "--max-body",
        "65536",
        "--n",
        "2",
    ]);
    let key = ("authorization", "Bearer sekret");
    let json_ct = ("content-type", "application/json");
    let post =
        |body: &[u8]| server.request("POST", "/v1/chat/completions", &[key, json_ct], Some(body));
    let msg = |c: &str| json!({"messages": [{"role": "user", "content": c}], "max_tokens": 8});

    post(b"{\"messages\": [").assert_error(400, "not valid JSON");
    post(b"[1, 2]").assert_error(400, "expected an object");
    post(br#"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": "ten"}"#)
        .assert_error(400, "max_tokens: expected a whole number");
    post(br#"{"messages": "hi"}"#).assert_error(400, "messages: expected an array");
    post(br#"{"messages": []}"#).assert_error(400, "messages: is empty");
    post(br#"{"messages": [{"role": "wizard", "content": "hi"}]}"#)
        .assert_error(400, "messages[0].role: unknown role \"wizard\"");
    post(br#"{"messages": [{"role": "user", "content": "hi"}], "n": 3, "best_of": 2}"#)
        .assert_error(400, "n must not exceed best_of");
    post(br#"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100000000}"#)
        .assert_error(400, "more than the server's limit of 512");
    post(br#"{"messages": [{"role": "user", "content": "hi"}], "temperature": -1}"#)
        .assert_error(400, "temperature");
    let r = post(br#"{"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o"}"#);
    r.assert_error(404, "gpt-4o");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("smollm2-135m-arith"));
    // Longer than the context (256 tokens per candidate here): refused by the worker, 400.
    let long = msg(&"lorem ipsum dolor ".repeat(200));
    post(long.to_string().as_bytes()).assert_error(400, "tokens but the model's context holds 256");
    let mut long_stream = long.clone();
    long_stream["stream"] = json!(true);
    post(long_stream.to_string().as_bytes()).assert_error(400, "context holds 256");
    // Body over --max-body.
    let huge = msg(&"x".repeat(70_000));
    post(huge.to_string().as_bytes()).assert_error(413, "65536 bytes");
    // Keys.
    let body = msg("What is 2 + 2?").to_string();
    server
        .request(
            "POST",
            "/v1/chat/completions",
            &[json_ct],
            Some(body.as_bytes()),
        )
        .assert_error(401, "needs an API key");
    server
        .request(
            "POST",
            "/v1/chat/completions",
            &[("authorization", "Bearer wrong"), json_ct],
            Some(body.as_bytes()),
        )
        .assert_error(401, "wrong");
    server
        .request("GET", "/v1/models", &[], None)
        .assert_error(401, "API key");
    // /health needs no key.
    assert_eq!(server.request("GET", "/health", &[], None).status, 200);
    // DNS rebinding: a page's own name as Host is refused, whatever else is right.
    server
        .request(
            "POST",
            "/v1/chat/completions",
            &[key, json_ct, ("host", "evil.example:8080")],
            Some(body.as_bytes()),
        )
        .assert_error(403, "evil.example");
    // No CORS headers without --cors-origin.
    let r = server.request(
        "GET",
        "/v1/models",
        &[key, ("origin", "http://evil.example")],
        None,
    );
    assert_eq!(r.status, 200);
    assert!(
        r.header("access-control-allow-origin").is_none(),
        "{:?}",
        r.headers
    );
    // Unknown routes and methods.
    server
        .request("GET", "/v2/nothing", &[key], None)
        .assert_error(404, "no route");
    server
        .request("GET", "/v1/chat/completions", &[key], None)
        .assert_error(405, "GET is not allowed");
    // And a good request still works after all that.
    let r = post(body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .is_empty());
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
    let (status, log) = server.stop();
    assert!(status.success(), "exit {status:?}: {log}");
}

#[test]
fn under_load_every_request_is_answered_or_told_to_retry() {
    let _serial = common::serial();
    let server = Arc::new(Server::start(&[
        "--n",
        "4",
        "--max-tokens",
        "12",
        "--queue",
        "4",
    ]));
    let (clients, per_client) = (8, 5);
    let t0 = Instant::now();
    let results: Vec<(u16, Option<String>, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let server = server.clone();
                s.spawn(move || {
                    (0..per_client)
                        .map(|k| {
                            let body = chat(
                                &format!("What is {} + {}?", c + 2, k + 3),
                                json!({"max_tokens": 12, "seed": c * 10 + k}),
                            );
                            let r = server.post("/v1/chat/completions", &body);
                            let content = (r.status == 200).then(|| {
                                r.json()["choices"][0]["message"]["content"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .to_string()
                            });
                            let retry = r.header("retry-after").is_some();
                            (r.status, content, retry)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let wall = t0.elapsed().as_secs_f64();
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let busy = results.iter().filter(|r| r.0 == 429).count();
    for (status, content, retry) in &results {
        match status {
            200 => assert!(content.as_ref().is_some_and(|c| !c.is_empty())),
            429 => assert!(retry, "429 without Retry-After"),
            other => panic!("status {other}: {}", server.log()),
        }
    }
    assert_eq!(ok + busy, clients * per_client);
    assert!(ok > 0);
    let rss = server.peak_rss_kb();
    eprintln!(
        "load: {} requests from {clients} clients in {wall:.1} s: {ok} answered, {busy} told to retry (429); peak RSS {} MB",
        clients * per_client,
        rss.map_or("?".into(), |k| format!("{:.0}", k as f64 / 1024.0))
    );
    assert_eq!(server.request("GET", "/health", &[], None).status, 200);

    // A client killed mid-request frees the worker: a long request is cancelled within a decode
    // step once its connection closes, and the next request is answered.
    for stream in [false, true] {
        let long = chat(
            "Write a long story about a dragon.",
            json!({"max_tokens": 2000, "best_of": 8, "stream": stream}),
        )
        .to_string();
        let mut s = TcpStream::connect(&server.addr).unwrap();
        write!(
            s,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{long}",
            server.addr,
            long.len()
        )
        .unwrap();
        // Wait until the worker has started it, then vanish.
        let t0 = Instant::now();
        while !server.log().contains("started") && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        drop(s);
        let t1 = Instant::now();
        let r = server.post(
            "/v1/chat/completions",
            &chat("What is 1 + 1?", json!({"max_tokens": 8})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let waited = t1.elapsed().as_secs_f64();
        let log = server.log();
        assert!(
            log.contains("cancelled"),
            "the killed request was not cancelled: {log}"
        );
        eprintln!("killed client (stream={stream}): next request answered after {waited:.2} s");
        // Reset the marker for the next round.
        server.stderr.lock().unwrap().clear();
    }
    let server = Arc::into_inner(server).unwrap();
    let (status, log) = server.stop();
    assert!(status.success(), "exit {status:?}: {log}");
}

#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    let _serial = common::serial();
    let server = Server::start(&["--n", "2", "--max-tokens", "48"]);
    let addr = server.addr.clone();
    let inflight = std::thread::spawn(move || {
        http(
            &addr,
            "POST",
            "/v1/chat/completions",
            &[("content-type", "application/json")],
            Some(
                chat("What is 47 + 38?", json!({"max_tokens": 48}))
                    .to_string()
                    .as_bytes(),
            ),
        )
    });
    let t0 = Instant::now();
    while !server.log().contains("started") && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, log) = server.stop();
    let r = inflight
        .join()
        .unwrap()
        .expect("the in-flight request got an answer");
    assert_eq!(r.status, 200, "{} / {log}", r.body);
    assert!(status.success(), "exit {status:?}: {log}");
    assert!(log.contains("shutting down"), "{log}");
}
