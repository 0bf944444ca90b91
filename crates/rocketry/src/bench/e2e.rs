//! `rocketry bench e2e`: produce at a fixed rate into a new topic and consume it with long
//! polling; the latency is from each message's intended send time (written into its body)
//! to the consumer holding it. Producer and consumer share this host's clock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use clap::Args;
use protocol::codes::response;
use protocol::header::PullMessageRequestHeader;
use protocol::message::Properties;

use super::{create_topic, describe, histogram, progress, Latencies, Schedule};

#[derive(Args)]
pub struct E2eArgs {
    #[arg(short = 'n', long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[command(flatten)]
    security: crate::security::Security,
    /// Topic to create and use; a new unique name by default, so consumers start at 0.
    #[arg(short, long)]
    topic: Option<String>,
    /// Queues of the topic (one consumer task each).
    #[arg(long, default_value_t = 8)]
    queues: i32,
    /// Message body size in bytes (at least 8: the send time is written into it).
    #[arg(short, long, default_value_t = 1024)]
    size: usize,
    /// Concurrent senders.
    #[arg(short, long, default_value_t = 16)]
    concurrency: usize,
    /// Messages per second.
    #[arg(short, long, default_value_t = 10_000)]
    rate: u64,
    /// Seconds to produce.
    #[arg(short, long, default_value_t = 10)]
    duration: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

fn epoch_us(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

pub async fn run(args: E2eArgs) -> Result<(), crate::Error> {
    let client = Arc::new(args.security.client(&args.namesrv));
    let topic = args.topic.clone().unwrap_or_else(|| format!("BenchE2e_{}_{}", std::process::id(), epoch_us(SystemTime::now())));
    create_topic(&client, &topic, args.queues.max(1)).await?;
    let route = client.route(&topic).await?;
    let queues = super::master_queues(&route, |q| q.write_queue_nums);
    let queues = Arc::new(queues);
    let (sent, received, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (send_lat, e2e_lat) = (Latencies::new(), Latencies::new());
    let producing = Arc::new(AtomicBool::new(true));

    let mut consumers = Vec::new();
    for (addr, queue_id) in queues.iter().cloned() {
        let (client, topic, received, e2e_lat, producing, sent) =
            (client.clone(), topic.clone(), received.clone(), e2e_lat.clone(), producing.clone(), sent.clone());
        consumers.push(tokio::spawn(async move {
            let mut local = histogram();
            let mut offset = 0;
            let mut grace: Option<Instant> = None;
            loop {
                if !producing.load(Ordering::Acquire) {
                    // Stop once everything sent has arrived, or after a grace period.
                    let until = *grace.get_or_insert_with(|| Instant::now() + Duration::from_secs(5));
                    if received.load(Ordering::Acquire) >= sent.load(Ordering::Acquire) || Instant::now() >= until {
                        break;
                    }
                }
                let h = PullMessageRequestHeader::for_queue("rocketry_bench_e2e", &topic, queue_id, offset).long_poll(500);
                let r = match client.pull(&addr, &h).await {
                    Ok(r) => r,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let now = epoch_us(SystemTime::now());
                for m in &r.messages {
                    if m.body.len() >= 8 {
                        let due = u64::from_be_bytes(m.body[..8].try_into().unwrap_or_default());
                        let _ = local.record(now.saturating_sub(due).max(1));
                    }
                }
                received.fetch_add(r.messages.len() as u64, Ordering::AcqRel);
                if r.code == response::SUCCESS || r.code == response::PULL_OFFSET_MOVED {
                    offset = r.header.next_begin_offset;
                }
            }
            e2e_lat.merge(&local);
        }));
    }

    // Wall-clock time of the schedule's start, to stamp intended send times into bodies.
    let schedule = Arc::new(Schedule::new(Some(args.rate.max(1)), Duration::from_secs(args.duration)));
    let wall_start = SystemTime::now();
    let size = args.size.max(8);
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, topic, queues, schedule, sent, errors, send_lat) =
            (client.clone(), topic.clone(), queues.clone(), schedule.clone(), sent.clone(), errors.clone(), send_lat.clone());
        senders.push(tokio::spawn(async move {
            let mut local = histogram();
            let mut first = true;
            while let Some((k, due)) = schedule.take(first).await {
                first = false;
                let mut body = BytesMut::with_capacity(size);
                body.put_u64(epoch_us(wall_start + (due - schedule.start)));
                body.resize(size, b'x');
                let (addr, queue) = &queues[k % queues.len()];
                match client.send(addr, &topic, *queue, Bytes::from(body), Properties::default()).await {
                    Ok(_) => {
                        let _ = local.record(due.elapsed().as_micros().max(1) as u64);
                        sent.fetch_add(1, Ordering::AcqRel);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            send_lat.merge(&local);
        }));
    }
    let ticker = progress("msgs received", received.clone(), errors.clone());
    for t in senders {
        let _ = t.await;
    }
    let produce_secs = started.elapsed().as_secs_f64();
    producing.store(false, Ordering::Release);
    for c in consumers {
        let _ = c.await;
    }
    ticker.abort();
    let (n_sent, n_received, errs) = (sent.load(Ordering::Relaxed), received.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
    let (send, e2e) = (send_lat.summary(), e2e_lat.summary());
    if args.json {
        println!(
            "{}",
            serde_json::json!({"topic": topic, "sent": n_sent, "received": n_received, "errors": errs, "seconds": produce_secs,
                "rate": args.rate, "msgs_per_sec": n_sent as f64 / produce_secs, "size": size,
                "send_latency_us": send, "e2e_latency_us": e2e})
        );
    } else {
        println!(
            "sent {n_sent} msgs in {produce_secs:.1}s ({:.0} msgs/s, target {}), received {n_received}, errors {errs}",
            n_sent as f64 / produce_secs,
            args.rate
        );
        println!("send latency (from intended send time): {}", describe(&send));
        println!("end-to-end latency (intended send to consumer): {}", describe(&e2e));
    }
    client.close();
    if n_received < n_sent {
        return Err(format!("{} of {n_sent} sent messages were not received", n_sent - n_received).into());
    }
    Ok(())
}
