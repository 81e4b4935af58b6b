//! `swift-bon serve`: a local OpenAI-compatible server that answers with the best of N.
//!
//! axum + tokio take requests; one worker thread owns the engine and answers them one at a time
//! from a bounded queue (a full queue is a 429 with Retry-After). See `swift_bon::serve` for the
//! request and response mapping.

mod http;
mod worker;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use swift_bon::serve::{Defaults, Limits};

use super::ask::PruneArg;
use super::common::{load_engine, GlobalArgs, ModelArgs, UsageError};
use super::sample::SamplingArgs;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Address to bind (loopback by default; another address exposes the server to the network).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0: any free port; the address is printed on stdout).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Extra SWIFT heads (files or names) offered as model ids, besides the installed and
    /// shipped heads made for the model.
    #[arg(long)]
    pub head: Vec<PathBuf>,
    /// Default pruning of head models: top:KEEP, margin:M, deepconf:Q or halve:REJECT with
    /// options like ,warmup=32,every=16,min=1; `off` for none. Requests may override it with
    /// `"swift_bon": {"prune": ...}`.
    #[arg(long, value_name = "POLICY", default_value = "off")]
    pub prune: PruneArg,
    /// Require `Authorization: Bearer KEY` on every route but /health.
    #[arg(long, env = "SWIFT_BON_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Requests that may wait while one is answered; more get 429 with Retry-After.
    #[arg(long, default_value_t = 16)]
    pub queue: usize,
    /// Allow browser pages from this origin (CORS; repeatable; `*` for any). Off by default.
    #[arg(long, value_name = "ORIGIN")]
    pub cors_origin: Vec<String>,
    /// Accept this Host name besides localhost and IP addresses (repeatable).
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body: usize,
    /// Most candidates (best_of, n) a request may ask for.
    #[arg(long, default_value_t = 32)]
    pub max_best_of: usize,
    /// Most tokens per candidate a request may ask for.
    #[arg(long, default_value_t = 2048)]
    pub max_tokens_limit: usize,
    /// Most characters in a request's messages.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_prompt_chars: usize,
    /// Seconds to let in-flight requests finish after SIGINT/SIGTERM before cancelling them.
    #[arg(long, default_value_t = 30)]
    pub shutdown_timeout: u64,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

pub fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    if args.queue == 0 {
        return Err(UsageError("--queue must be at least 1".into()).into());
    }
    if args.sampling.n == 0 || args.sampling.n > args.max_best_of {
        return Err(UsageError(format!(
            "--n {} must be between 1 and --max-best-of {}",
            args.sampling.n, args.max_best_of
        ))
        .into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // The worker thread decodes; the runtime only moves bytes.
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(global, args))
}

async fn serve(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.host, args.port))?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(worker::Shared::default());
    let (queue, rx) = std::sync::mpsc::sync_channel(args.queue);

    // The worker loads the model (fetching a known one on first use) while /health says 503.
    let model_args = args.model.clone();
    let global_copy = global.clone();
    let loader: worker::Loader = Box::new(move || {
        let path = model_args.resolve(&global_copy)?;
        load_engine(&path)
    });
    let config = worker::WorkerConfig {
        heads: args.head.clone(),
        options: args.sampling.options(),
        template: args.sampling.template.clone(),
        prune: args.prune.0,
        log: !global.quiet,
    };
    let worker_shared = shared.clone();
    let (worker_done_tx, worker_done) = tokio::sync::oneshot::channel::<()>();
    let worker = std::thread::Builder::new()
        .name("swift-bon-worker".into())
        .spawn(move || {
            worker::run(loader, config, worker_shared, rx);
            let _ = worker_done_tx.send(());
        })
        .context("starting the worker thread")?;

    let app = Arc::new(http::App {
        shared: shared.clone(),
        queue,
        queue_cap: args.queue,
        limits: Limits {
            max_body: args.max_body,
            max_best_of: args.max_best_of,
            max_tokens: args.max_tokens_limit,
            max_prompt_chars: args.max_prompt_chars,
            ..Limits::default()
        },
        defaults: Defaults {
            best_of: args.sampling.n,
            max_tokens: args.sampling.max_tokens,
        },
        api_key: args.api_key.clone().filter(|k| !k.is_empty()),
        allowed_hosts: args.allow_host.clone(),
        cors: args.cors_origin.clone(),
        next_id: AtomicU64::new(1),
        log: !global.quiet,
    });
    // The address goes to stdout (the one result of this command), so scripts can read it.
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    if !global.quiet {
        eprintln!(
            "swift-bon serve: http://{addr} (POST /v1/chat/completions, /v1/completions; GET /v1/models, /health); loading the model..."
        );
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Signals, and a failed load, start the shutdown.
    {
        let stop_tx = stop_tx.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let failed = async {
                loop {
                    if shared.failed.get().is_some() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            tokio::select! {
                _ = shutdown_signal() => {}
                _ = failed => {}
            }
            let _ = stop_tx.send(true);
        });
    }
    {
        let shared = shared.clone();
        let quiet = global.quiet;
        tokio::spawn(async move {
            loop {
                if let Some(m) = shared.models.get() {
                    if !quiet {
                        let ids: Vec<&str> = m.entries.iter().map(|e| e.id.as_str()).collect();
                        eprintln!("ready: {} as {}", m.path, ids.join(", "));
                    }
                    break;
                }
                if shared.failed.get().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }

    let mut graceful_rx = stop_rx.clone();
    let graceful_shared = shared.clone();
    let quiet = global.quiet;
    let server = axum::serve(listener, http::router(app)).with_graceful_shutdown(async move {
        let _ = graceful_rx.wait_for(|s| *s).await;
        graceful_shared.stopping.store(true, Ordering::Relaxed);
        if !quiet {
            eprintln!("shutting down: finishing requests in flight");
        }
    });
    let deadline = Duration::from_secs(args.shutdown_timeout);
    let mut deadline_rx = stop_rx.clone();
    let timed_out = async move {
        let _ = deadline_rx.wait_for(|s| *s).await;
        tokio::time::sleep(deadline).await;
    };
    tokio::select! {
        r = server => r.context("serving")?,
        _ = timed_out => {
            let n = shared.cancel_all();
            if !global.quiet {
                eprintln!("shutdown deadline of {} s passed: cancelled {n} requests", deadline.as_secs());
            }
        }
    }
    // Stop the worker: cancel whatever it still runs, and wait (bounded) for it to leave.
    shared.stopping.store(true, Ordering::Relaxed);
    shared.cancel_all();
    let _ = tokio::time::timeout(Duration::from_secs(10), worker_done).await;
    if worker.is_finished() {
        let _ = worker.join();
    }
    if let Some(f) = shared.failed.get() {
        return Err(anyhow::anyhow!("the model failed to load: {f}"));
    }
    if !global.quiet {
        eprintln!("stopped");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
