//! `rocketry bench timer`: timer messages. Sends `--pending` timers due over the hour after a
//! minute (they stay pending: measure the broker's memory then), then a `--burst` all due in
//! the same second, and reads the burst back from the topic: the delivery lateness of each is
//! its store time in the topic minus its due time (`TIMER_OUT_MS`), both the broker's clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Args;
use client::Client;
use protocol::header::PullMessageRequestHeader;
use protocol::message::{decode_records, Properties};

use super::{create_topic, describe, histogram, progress, Latencies};

#[derive(Args)]
pub struct TimerArgs {
    #[arg(short = 'n', long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[command(flatten)]
    security: crate::security::Security,
    /// Topic to create and use; a new unique name by default.
    #[arg(short, long)]
    topic: Option<String>,
    #[arg(long, default_value_t = 8)]
    queues: i32,
    /// Message body size in bytes.
    #[arg(short, long, default_value_t = 128)]
    size: usize,
    /// Concurrent senders.
    #[arg(short, long, default_value_t = 64)]
    concurrency: usize,
    /// Timers left pending, due spread over `--spread-secs` starting a minute after the start.
    #[arg(long, default_value_t = 1_000_000)]
    pending: u64,
    #[arg(long, default_value_t = 3600)]
    spread_secs: u64,
    /// Timers all due in the same second, `--burst-lead-secs` after the pending ones are sent.
    #[arg(long, default_value_t = 100_000)]
    burst: u64,
    #[arg(long, default_value_t = 20)]
    burst_lead_secs: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Sends `count` timers, the k-th due at `due(k)`, with `concurrency` senders; returns
/// (msgs/s, send latency summary, errors).
async fn send_timers(
    client: &Arc<Client>,
    queues: &Arc<Vec<(String, i32)>>,
    topic: &str,
    args: &TimerArgs,
    count: u64,
    due: Arc<dyn Fn(u64) -> i64 + Send + Sync>,
) -> (f64, serde_json::Value, u64) {
    let (next, sent, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let latencies = Latencies::new();
    let body = Bytes::from(vec![b'x'; args.size]);
    let ticker = progress("timers", sent.clone(), errors.clone());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, queues, next, sent, errors, latencies, body, due, topic) =
            (client.clone(), queues.clone(), next.clone(), sent.clone(), errors.clone(), latencies.clone(), body.clone(), due.clone(), topic.to_string());
        tasks.push(tokio::spawn(async move {
            let mut local = histogram();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= count {
                    break;
                }
                let (addr, queue) = &queues[(k % queues.len() as u64) as usize];
                let mut props = Properties::default();
                props.set("TIMER_DELIVER_MS", due(k).to_string());
                let t = Instant::now();
                match client.send(addr, &topic, *queue, body.clone(), props).await {
                    Ok(_) => {
                        let _ = local.record(t.elapsed().as_micros() as u64);
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies.merge(&local);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    ticker.abort();
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    (sent.load(Ordering::Relaxed) as f64 / secs, latencies.summary(), errors.load(Ordering::Relaxed))
}

pub async fn run(args: TimerArgs) -> Result<(), crate::Error> {
    let client = Arc::new(args.security.client(&args.namesrv));
    let topic = args.topic.clone().unwrap_or_else(|| format!("BenchTimer_{}_{}", std::process::id(), now_ms()));
    create_topic(&client, &topic, args.queues.max(1)).await?;
    let route = client.route(&topic).await?;
    let queues = super::master_queues(&route, |q| q.write_queue_nums);
    let queues = Arc::new(queues);
    // The pending ones: due over the hour after a minute from now.
    let base = now_ms() + 60_000;
    let (pending, spread_ms) = (args.pending.max(1), (args.spread_secs.max(1) * 1000) as i64);
    let (pending_rate, pending_lat, pending_errors) =
        send_timers(&client, &queues, &topic, &args, args.pending, Arc::new(move |k| base + (k as i64 * spread_ms) / pending as i64)).await;
    eprintln!("{} pending timers sent: {pending_rate:.0} msgs/s ({})", args.pending, describe(&pending_lat));
    // The burst: all due in one second.
    let burst_at = now_ms() + (args.burst_lead_secs * 1000) as i64;
    let burst_started = now_ms();
    let (burst_rate, _, burst_errors) = send_timers(&client, &queues, &topic, &args, args.burst, Arc::new(move |k| burst_at + (k % 1000) as i64)).await;
    let sent_by = now_ms();
    eprintln!("{} burst timers sent in {} ms ({burst_rate:.0} msgs/s), due at +{} ms", args.burst, sent_by - burst_started, burst_at - sent_by);
    // Read the burst back as it is delivered.
    let lateness = histogram();
    let lateness = std::sync::Mutex::new(lateness);
    let deadline = Instant::now() + Duration::from_millis((burst_at - now_ms()).max(0) as u64) + Duration::from_secs(60);
    let mut offsets = vec![0i64; queues.len()];
    let mut delivered = 0u64;
    while delivered < args.burst && Instant::now() < deadline {
        let mut progressed = false;
        for (i, (addr, queue)) in queues.iter().enumerate() {
            let r = client.pull_raw(addr, &PullMessageRequestHeader::for_queue("bench_timer", &topic, *queue, offsets[i])).await?;
            let records = decode_records(&r.records)?;
            if records.is_empty() {
                continue;
            }
            progressed = true;
            offsets[i] = r.header.next_begin_offset;
            let mut h = lateness.lock().unwrap_or_else(|e| e.into_inner());
            for m in &records {
                let due: i64 = Properties::parse(&m.properties).get("TIMER_OUT_MS").and_then(|v| v.parse().ok()).unwrap_or(m.store_timestamp);
                // Milliseconds late (a histogram of microseconds would overflow nothing; keep ms).
                let _ = h.record(m.store_timestamp.saturating_sub(due).max(1) as u64);
                delivered += 1;
            }
        }
        if !progressed {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let h = lateness.into_inner().unwrap_or_else(|e| e.into_inner());
    let summary = serde_json::json!({
        "topic": topic,
        "pending": args.pending,
        "pending_send_msgs_per_sec": pending_rate.round(),
        "pending_send_latency_us": pending_lat,
        "burst": args.burst,
        "burst_send_msgs_per_sec": burst_rate.round(),
        "burst_delivered": delivered,
        "lateness_ms": {"p50": h.value_at_quantile(0.5), "p99": h.value_at_quantile(0.99), "max": h.max()},
        "errors": pending_errors + burst_errors,
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "timers: {} pending sent at {:.0} msgs/s; burst of {} delivered {} with lateness p50 {} ms, p99 {} ms, max {} ms; errors {}",
            args.pending,
            pending_rate,
            args.burst,
            delivered,
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.max(),
            pending_errors + burst_errors
        );
    }
    client.close();
    Ok(())
}
