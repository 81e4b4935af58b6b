//! The HTTP side: routes, the Host / key / CORS guard, bodies, the bounded queue, and server-sent
//! events. Nothing here decodes: jobs go to the worker thread.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use swift_bon::serve::response::{self, ChunkHead};
use swift_bon::serve::{
    self, ApiError, Defaults, Endpoint, Limits, LivePlanner, ServeTimings, Served, StreamMode,
};
use tokio::sync::mpsc::UnboundedReceiver;

use super::worker::{Job, JobMsg, JobResult, Shared};

/// Everything the handlers share.
pub struct App {
    pub shared: Arc<Shared>,
    pub queue: SyncSender<Job>,
    pub queue_cap: usize,
    pub limits: Limits,
    pub defaults: Defaults,
    pub api_key: Option<String>,
    pub allowed_hosts: Vec<String>,
    pub cors: Vec<String>,
    pub next_id: AtomicU64,
    pub log: bool,
}

type AppState = Arc<App>;

/// The router.
pub fn router(app: AppState) -> Router {
    Router::new()
        // Each route answers another method with the OpenAI error object too (axum's own 405
        // has an empty body).
        .route("/health", get(health).fallback(no_route))
        .route("/v1/health", get(health).fallback(no_route))
        .route("/v1/models", get(models).fallback(no_route))
        .route("/v1/chat/completions", post(chat).fallback(no_route))
        .route("/v1/completions", post(completions).fallback(no_route))
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, Json(e.body())).into_response();
    if let Some(s) = e.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Host check (DNS rebinding), CORS (only for --cors-origin), API key (all but /health).
async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(host) = req.headers().get(header::HOST) {
        let h = host.to_str().unwrap_or("(not text)");
        if !serve::host_allowed(h, &app.allowed_hosts) {
            let mut names = vec!["localhost".to_string(), "IP addresses".to_string()];
            names.extend(app.allowed_hosts.iter().cloned());
            return error_response(&ApiError::forbidden_host(h, &names.join(", ")));
        }
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| app.cors.iter().any(|c| c == "*" || c == o))
        .map(str::to_string);
    let cors = |mut r: Response, origin: &Option<String>| {
        if let Some(o) = origin
            .as_deref()
            .and_then(|o| HeaderValue::from_str(o).ok())
        {
            let h = r.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
        }
        r
    };
    if req.method() == Method::OPTIONS && origin.is_some() {
        return cors(StatusCode::NO_CONTENT.into_response(), &origin);
    }
    let path = req.uri().path();
    if let Some(key) = &app.api_key {
        if path != "/health" && path != "/v1/health" {
            let sent = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            match sent {
                None => return cors(error_response(&ApiError::unauthorized(true)), &origin),
                Some(s) if !serve::same_secret(s.trim(), key) => {
                    return cors(error_response(&ApiError::unauthorized(false)), &origin)
                }
                Some(_) => {}
            }
        }
    }
    let r = next.run(req).await;
    cors(r, &origin)
}

async fn no_route(req: Request) -> Response {
    let path = req.uri().path().to_string();
    let known = [
        ("/health", Method::GET),
        ("/v1/health", Method::GET),
        ("/v1/models", Method::GET),
        ("/v1/chat/completions", Method::POST),
        ("/v1/completions", Method::POST),
    ];
    if known.iter().any(|(p, _)| *p == path) {
        return error_response(&ApiError::method_not_allowed(req.method().as_str(), &path));
    }
    error_response(&ApiError::no_route(req.method().as_str(), &path))
}

fn not_ready(app: &App) -> Option<ApiError> {
    if let Some(f) = app.shared.failed.get() {
        return Some(ApiError::unavailable(format!(
            "the model failed to load: {f}"
        )));
    }
    if app.shared.stopping.load(Ordering::Relaxed) {
        return Some(ApiError::unavailable("the server is shutting down"));
    }
    app.shared.models.get().is_none().then(ApiError::loading)
}

async fn health(State(app): State<AppState>) -> Response {
    match not_ready(&app) {
        Some(e) => error_response(&e),
        None => Json(json!({"status": "ok"})).into_response(),
    }
}

async fn models(State(app): State<AppState>) -> Response {
    match (not_ready(&app), app.shared.models.get()) {
        (None, Some(m)) => Json(response::model_list(&m.entries, now_unix())).into_response(),
        (Some(e), _) => error_response(&e),
        (None, None) => error_response(&ApiError::loading()),
    }
}

async fn chat(State(app): State<AppState>, req: Request) -> Response {
    complete(app, Endpoint::Chat, req).await
}

async fn completions(State(app): State<AppState>, req: Request) -> Response {
    complete(app, Endpoint::Completions, req).await
}

async fn complete(app: AppState, endpoint: Endpoint, req: Request) -> Response {
    let arrived = Instant::now();
    match answer(app, endpoint, req, arrived).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

/// Removes a job from the in-flight table when dropped, and cancels it unless it was answered:
/// a client that goes away drops this (with its handler or its event stream).
struct CancelGuard {
    shared: Arc<Shared>,
    id: u64,
    flag: Arc<AtomicBool>,
    answered: bool,
}

impl CancelGuard {
    fn new(shared: Arc<Shared>, id: u64) -> Self {
        let flag = Arc::new(AtomicBool::new(false));
        shared
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, flag.clone());
        Self {
            shared,
            id,
            flag,
            answered: false,
        }
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.answered {
            self.flag.store(true, Ordering::Relaxed);
            tracing::info!("request {}: cancelled (client gone)", self.id);
        }
        self.shared
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// Reads the body up to `limit` bytes. A larger body is still read (and dropped) up to a bound,
/// so that the client, still sending, reads the 413 instead of a reset connection.
async fn read_body(req: Request, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    use futures_util::StreamExt as _;
    let drain_cap = limit.saturating_mul(8).max(8 << 20);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<usize>().ok());
    if declared.is_some_and(|n| n > drain_cap) {
        return Err(ApiError::too_large(limit));
    }
    let mut stream = req.into_body().into_data_stream();
    let mut body = Vec::new();
    let mut total = 0usize;
    let read = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::invalid_json(format!("the body could not be read: {e}")))?;
            total += chunk.len();
            if total <= limit {
                body.extend_from_slice(&chunk);
            } else if total > drain_cap {
                break;
            }
        }
        Ok::<(), ApiError>(())
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .map_err(|_| ApiError::invalid_json("the body did not arrive within 30 s"))??;
    if total > limit {
        return Err(ApiError::too_large(limit));
    }
    Ok(body.into())
}

fn retry_after(app: &App) -> u64 {
    let mean_s = app.shared.mean_job_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    let waiting = app.shared.queued.load(Ordering::Relaxed) as f64 + 1.0;
    (mean_s * waiting).ceil().clamp(1.0, 600.0) as u64
}

struct Ids {
    id: String,
    created: u64,
    model: String,
    chat: bool,
}

impl Ids {
    fn head(&self) -> ChunkHead<'_> {
        ChunkHead {
            id: &self.id,
            created: self.created,
            model: &self.model,
            chat: self.chat,
        }
    }
}

async fn answer(
    app: AppState,
    endpoint: Endpoint,
    req: Request,
    arrived: Instant,
) -> Result<Response, ApiError> {
    let body = read_body(req, app.limits.max_body).await?;
    if let Some(e) = not_ready(&app) {
        return Err(e);
    }
    let models = app.shared.models.get().ok_or_else(ApiError::loading)?;
    let request = serve::parse(endpoint, &body, &app.limits, &app.defaults)?;
    let model = models.resolve(request.model.as_deref())?;
    let n_id = app.next_id.fetch_add(1, Ordering::Relaxed);
    let chat = endpoint == Endpoint::Chat;
    let ids = Ids {
        id: format!(
            "{}-{n_id:08x}{:08x}",
            if chat { "chatcmpl" } else { "cmpl" },
            now_unix() as u32
        ),
        created: now_unix(),
        model: models.entries[model].id.clone(),
        chat,
    };
    let mut guard = CancelGuard::new(app.shared.clone(), n_id);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = request.stream;
    let n = request.n;
    let best_of = request.best_of;
    let include_usage = request.include_usage;
    let job = Job {
        id: n_id,
        request,
        model,
        cancel: guard.flag.clone(),
        tx,
        arrived,
    };
    app.shared.queued.fetch_add(1, Ordering::Relaxed);
    match app.queue.try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            app.shared.queued.fetch_sub(1, Ordering::Relaxed);
            guard.answered = true;
            return Err(ApiError::queue_full(app.queue_cap, retry_after(&app)));
        }
        Err(TrySendError::Disconnected(_)) => {
            app.shared.queued.fetch_sub(1, Ordering::Relaxed);
            guard.answered = true;
            return Err(ApiError::unavailable("the worker has stopped"));
        }
    }
    if !stream {
        loop {
            match rx.recv().await {
                Some(JobMsg::Done(r)) => {
                    guard.answered = true;
                    let r = (*r)?;
                    let total = arrived.elapsed().as_secs_f64();
                    let timings = ServeTimings {
                        queued_s: r.queued_s,
                        ttft_s: Some(total),
                        total_s: total,
                    };
                    let v = served_json(&ids, &r, n, timings, StreamMode::None);
                    return Ok(Json(v).into_response());
                }
                Some(_) => {}
                None => return Err(ApiError::internal("the worker stopped without an answer")),
            }
        }
    }
    // Streaming: errors found before generation starts (a prompt longer than the context) keep
    // their status; the headers go out with the first decode step.
    let mut first = None;
    while first.is_none() {
        match rx.recv().await {
            Some(JobMsg::Started) => {}
            Some(m @ (JobMsg::Event(_) | JobMsg::Done(_))) => {
                if let JobMsg::Done(r) = &m {
                    if let Err(e) = r.as_ref() {
                        guard.answered = true;
                        return Err(e.clone());
                    }
                }
                first = Some(m);
            }
            None => return Err(ApiError::internal("the worker stopped without an answer")),
        }
    }
    let mut st = StreamState {
        rx,
        planner: LivePlanner::new(best_of, n == 1),
        guard,
        pending: VecDeque::new(),
        finished: false,
        arrived,
        ttft: None,
        ids,
        n,
        include_usage,
        log: app.log,
    };
    if st.ids.chat {
        let c = response::chunk(&st.ids.head(), 0, true, Some(""), None);
        st.push(&c);
    }
    if let Some(m) = first {
        st.on_msg(Some(m));
    }
    let events = futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(ev) = st.pending.pop_front() {
                return Some((Ok::<_, Infallible>(ev), st));
            }
            if st.finished {
                return None;
            }
            let m = st.rx.recv().await;
            st.on_msg(m);
        }
    });
    Ok(Sse::new(events)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(1))
                .text("candidates competing"),
        )
        .into_response())
}

fn served_json(
    ids: &Ids,
    r: &JobResult,
    n: usize,
    timings: ServeTimings,
    stream: StreamMode,
) -> serde_json::Value {
    let s = Served {
        answer: &r.answer,
        model: &ids.model,
        head: r.head.as_deref(),
        id: &ids.id,
        created: ids.created,
        n,
        timings,
        logprobs: r.logprobs.as_deref(),
        stream,
    };
    if ids.chat {
        response::chat_completion(&s)
    } else {
        response::text_completion(&s)
    }
}

struct StreamState {
    rx: UnboundedReceiver<JobMsg>,
    planner: LivePlanner,
    guard: CancelGuard,
    pending: VecDeque<SseEvent>,
    finished: bool,
    arrived: Instant,
    ttft: Option<f64>,
    ids: Ids,
    n: usize,
    include_usage: bool,
    log: bool,
}

impl StreamState {
    fn push(&mut self, v: &serde_json::Value) {
        self.pending
            .push_back(SseEvent::default().data(v.to_string()));
    }

    fn push_text(&mut self, index: usize, text: &str) {
        if index == 0 && self.ttft.is_none() && !text.is_empty() {
            self.ttft = Some(self.arrived.elapsed().as_secs_f64());
        }
        let c = response::chunk(&self.ids.head(), index, false, Some(text), None);
        self.push(&c);
    }

    fn end(&mut self) {
        self.pending.push_back(SseEvent::default().data("[DONE]"));
        self.finished = true;
    }

    fn on_msg(&mut self, m: Option<JobMsg>) {
        match m {
            Some(JobMsg::Started) => {}
            Some(JobMsg::Event(e)) => {
                if let Some(t) = self.planner.on_event(&e) {
                    self.push_text(0, &t);
                }
            }
            Some(JobMsg::Done(r)) => {
                self.guard.answered = true;
                match *r {
                    Ok(r) => self.done(&r),
                    Err(e) => {
                        let v = e.body();
                        self.push(&v);
                        self.end();
                    }
                }
            }
            None => {
                let v = ApiError::internal("the worker stopped without an answer").body();
                self.push(&v);
                self.end();
            }
        }
    }

    fn done(&mut self, r: &JobResult) {
        let a = &r.answer;
        let rest = self.planner.finish(&a.text);
        if !rest.is_empty() {
            self.push_text(0, &rest);
        }
        let h = self.ids.head();
        let order = response::rank(a);
        let mut chunks = vec![response::chunk(
            &h,
            0,
            false,
            None,
            Some(response::finish_reason(a.candidates[a.chosen].finish)),
        )];
        for (k, &i) in order.iter().enumerate().take(self.n).skip(1) {
            let c = &a.candidates[i];
            chunks.push(response::chunk(&h, k, self.ids.chat, Some(&c.text), None));
            chunks.push(response::chunk(
                &h,
                k,
                false,
                None,
                Some(response::finish_reason(c.finish)),
            ));
        }
        let total = self.arrived.elapsed().as_secs_f64();
        let mode = if self.planner.live().is_some() {
            StreamMode::LiveSurvivor
        } else {
            StreamMode::AfterChoice
        };
        let timings = ServeTimings {
            queued_s: r.queued_s,
            ttft_s: self.ttft,
            total_s: total,
        };
        let s = Served {
            answer: a,
            model: h.model,
            head: r.head.as_deref(),
            id: h.id,
            created: h.created,
            n: self.n,
            timings,
            logprobs: None,
            stream: mode,
        };
        chunks.push(response::final_chunk(&h, &s, self.include_usage));
        for c in &chunks {
            self.push(c);
        }
        if self.log {
            eprintln!(
                "request {}: streamed {}, first text after {}, done after {total:.2}s",
                self.guard.id,
                match mode {
                    StreamMode::LiveSurvivor => "live (one candidate left)",
                    _ => "after the choice",
                },
                self.ttft.map_or("-".into(), |t| format!("{t:.2}s")),
            );
        }
        self.end();
    }
}
