//! `rocketry bench produce`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use client::Client;
use protocol::message::Properties;
use tokio::task::JoinSet;

use super::{describe, histogram, progress, targets, Latencies, Schedule, Target};

#[derive(Args)]
pub struct ProduceArgs {
    #[arg(short = 'n', long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[command(flatten)]
    security: crate::security::Security,
    /// Send straight to this broker (or `bench sink`) without asking a NameServer for routes;
    /// `--queues` then says how many queues to spread over (default 8).
    #[arg(long)]
    broker: Option<String>,
    #[arg(short, long, default_value = "BenchmarkTest")]
    topic: String,
    /// Message body size in bytes.
    #[arg(short, long, default_value_t = 1024)]
    size: usize,
    /// Concurrent senders.
    #[arg(short, long, default_value_t = 16)]
    concurrency: usize,
    /// Messages per request (1 = single sends, >1 = SEND_BATCH_MESSAGE).
    #[arg(short, long, default_value_t = 1)]
    batch: usize,
    /// Seconds to run.
    #[arg(short, long, default_value_t = 10)]
    duration: u64,
    /// Requests per second over all senders (0 = as fast as possible). Latency is then measured
    /// from each request's intended send time, so stalls are not hidden.
    #[arg(short, long, default_value_t = 0)]
    rate: u64,
    /// Asynchronous sends: each sender keeps up to `--window` requests in flight instead of one.
    #[arg(long = "async")]
    async_send: bool,
    /// Requests in flight per sender with `--async`.
    #[arg(long, default_value_t = 32)]
    window: usize,
    /// Give each message the property `n` = its sequence number modulo this (0 = none), for
    /// filter benchmarks (`bench consume --sql "n < 50"`).
    #[arg(long, default_value_t = 0)]
    mod_prop: u64,
    /// Transactions: each send is a half message (TRAN_MSG, PGROUP = `rocketry_bench_producer`)
    /// followed by its END_TRANSACTION commit, awaited; msgs/s counts committed transactions,
    /// and the summary adds the commit's own latency.
    #[arg(long, conflicts_with = "batch")]
    transactional: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Create the topic first with this many queues on every broker (UPDATE_AND_CREATE_TOPIC).
    #[arg(long)]
    queues: Option<i32>,
    /// Spread sends over this many topics, `<topic>_0` … `<topic>_<N-1>` (one topic, named
    /// `<topic>`, when 1).
    #[arg(long, default_value_t = 1)]
    topics: usize,
}

#[derive(Clone)]
struct Sender {
    client: Arc<Client>,
    targets: Arc<Vec<Target>>,
    body: Bytes,
    batch: usize,
    /// `--mod-prop`, and the messages numbered so far.
    mod_prop: u64,
    seq: Arc<std::sync::atomic::AtomicU64>,
    transactional: bool,
}

/// A send's result (with `--transactional`, the commit's latency), its latency from the
/// intended send time, and from the actual send.
type Outcome = (Result<Option<Duration>, client::ClientError>, Duration, Duration);

/// The producer group of `--transactional` sends.
const TX_GROUP: &str = "rocketry_bench_producer";

impl Sender {
    async fn timed_send(&self, k: usize, due: Instant) -> Outcome {
        let at = Instant::now();
        let r = self.send(k).await;
        (r, due.elapsed(), at.elapsed())
    }

    fn props(&self) -> Properties {
        let mut p = Properties::default();
        if self.mod_prop > 0 {
            let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.mod_prop;
            p.set("n", n.to_string());
        }
        p
    }

    async fn send(&self, k: usize) -> Result<Option<Duration>, client::ClientError> {
        let t = &self.targets[k % self.targets.len()];
        if self.transactional {
            let half = self.client.send_half(&t.addr, &t.topic, t.queue, self.body.clone(), self.props()).await?;
            let at = Instant::now();
            self.client.end_transaction(&t.addr, &half, true).await?;
            Ok(Some(at.elapsed()))
        } else if self.batch == 1 {
            self.client.send(&t.addr, &t.topic, t.queue, self.body.clone(), self.props()).await.map(|_| None)
        } else {
            let items = (0..self.batch).map(|_| (self.body.clone(), self.props())).collect();
            self.client.send_batch(&t.addr, &t.topic, t.queue, items).await.map(|_| None)
        }
    }
}

pub async fn run(args: ProduceArgs) -> Result<(), crate::Error> {
    let mut client = args.security.client(&args.namesrv);
    if args.transactional {
        client.producer_group = TX_GROUP.into();
    }
    let client = Arc::new(client);
    let topics: Vec<String> = if args.topics <= 1 { vec![args.topic.clone()] } else { (0..args.topics).map(|i| format!("{}_{i}", args.topic)).collect() };
    let targets = Arc::new(targets(&client, &topics, args.broker.as_deref(), args.queues).await?);
    let sender = Sender {
        client: client.clone(),
        targets,
        body: Bytes::from(vec![b'x'; args.size]),
        batch: args.batch.max(1),
        mod_prop: args.mod_prop,
        seq: Default::default(),
        transactional: args.transactional,
    };
    let (latencies, service, ends) = (Latencies::new(), Latencies::new(), Latencies::new());
    let (sent, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // What went wrong first, said at the end (a refusal's remark names its cause).
    let first_error = Arc::new(std::sync::OnceLock::<String>::new());
    let schedule = Arc::new(Schedule::new(Some(args.rate), Duration::from_secs(args.duration)));
    let window = if args.async_send { args.window.max(1) } else { 1 };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (sender, latencies, sent, errors, schedule) = (sender.clone(), latencies.clone(), sent.clone(), errors.clone(), schedule.clone());
        let (service, ends, first_error) = (service.clone(), ends.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            let (mut local, mut local_service, mut local_ends) = (histogram(), histogram(), histogram());
            let mut inflight = JoinSet::new();
            let mut record = |r: Result<Outcome, tokio::task::JoinError>| match r {
                Ok((Ok(end), from_due, from_send)) => {
                    let _ = local.record(from_due.as_micros().max(1) as u64);
                    let _ = local_service.record(from_send.as_micros().max(1) as u64);
                    if let Some(end) = end {
                        let _ = local_ends.record(end.as_micros().max(1) as u64);
                    }
                    sent.fetch_add(sender.batch as u64, Ordering::Relaxed);
                }
                Ok((Err(e), _, _)) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    first_error.get_or_init(|| e.to_string());
                }
                Err(e) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    first_error.get_or_init(|| e.to_string());
                }
            };
            // At least one send per sender, so `-d 0` is a quick end-to-end check.
            let mut first = true;
            while let Some((k, due)) = schedule.take(first).await {
                first = false;
                if window == 1 {
                    record(Ok(sender.timed_send(k, due).await));
                    continue;
                }
                while inflight.len() >= window {
                    if let Some(r) = inflight.join_next().await {
                        record(r);
                    }
                }
                let s = sender.clone();
                inflight.spawn(async move { s.timed_send(k, due).await });
            }
            while let Some(r) = inflight.join_next().await {
                record(r);
            }
            latencies.merge(&local);
            service.merge(&local_service);
            ends.merge(&local_ends);
        }));
    }
    let ticker = progress("msgs", sent.clone(), errors.clone());
    for t in tasks {
        let _ = t.await;
    }
    ticker.abort();
    let elapsed = started.elapsed().as_secs_f64();
    let total = sent.load(Ordering::Relaxed);
    let errs = errors.load(Ordering::Relaxed);
    let tps = total as f64 / elapsed;
    let mbps = tps * args.size as f64 / (1024.0 * 1024.0);
    let (latency, service, ends) = (latencies.summary(), service.summary(), ends.summary());
    if args.json {
        let mut summary = serde_json::json!({"msgs": total, "seconds": elapsed, "msgs_per_sec": tps, "mb_per_sec": mbps, "latency_us": latency, "service_latency_us": service,
            "errors": errs, "size": args.size, "concurrency": args.concurrency, "batch": args.batch, "rate": args.rate,
            "async": args.async_send, "window": window, "topics": topics.len(), "transactional": args.transactional});
        if args.transactional {
            summary["end_latency_us"] = ends;
        }
        println!("{summary}");
    } else {
        println!("sent {total} msgs in {elapsed:.1}s: {tps:.0} msgs/s, {mbps:.1} MB/s, errors {errs}");
        if args.rate > 0 {
            println!("send latency from intended send time: {}", describe(&latency));
            println!("send latency from actual send:        {}", describe(&service));
        } else {
            println!("send latency (per request): {}", describe(&service));
        }
        if args.transactional {
            println!("of which the commit (END_TRANSACTION): {}", describe(&ends));
        }
    }
    client.close();
    if let Some(e) = first_error.get() {
        eprintln!("first error: {e}");
    }
    if total == 0 {
        return Err(format!("nothing was sent ({errs} errors)").into());
    }
    Ok(())
}
