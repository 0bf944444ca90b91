//! `rocketry bench produce`: sends fixed-size messages from concurrent senders through
//! our client and reports throughput and latency percentiles (HDR histogram).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Subcommand};
use client::Client;
use hdrhistogram::Histogram;
use protocol::message::Properties;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Produce at full speed and report msgs/s and send latency.
    Produce(ProduceArgs),
    /// Pull a topic's backlog from the first offset of every queue and report msgs/s and MB/s.
    Consume(ConsumeArgs),
}

#[derive(Args)]
pub struct ConsumeArgs {
    #[arg(short = 'n', long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[arg(short, long, default_value = "BenchmarkTest")]
    topic: String,
    /// Queues pulled at once.
    #[arg(short, long, default_value_t = 8)]
    concurrency: usize,
    /// Seconds to run at most (stops earlier when the backlog is drained).
    #[arg(short, long, default_value_t = 30)]
    duration: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ProduceArgs {
    #[arg(short = 'n', long, default_value = "127.0.0.1:9876")]
    namesrv: String,
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
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Create the topic first with this many queues on every broker (UPDATE_AND_CREATE_TOPIC).
    #[arg(long)]
    queues: Option<i32>,
}

pub async fn run(cmd: BenchCommand) -> Result<(), super::Error> {
    match cmd {
        BenchCommand::Produce(args) => produce(args).await,
        BenchCommand::Consume(args) => consume(args).await,
    }
}

/// Pulls every queue from offset 0 to its end, `concurrency` queues at a time.
async fn consume(args: ConsumeArgs) -> Result<(), super::Error> {
    use protocol::codes::{pull_flag, response};
    use protocol::header::PullMessageRequestHeader;
    let client = Arc::new(Client::new(vec![args.namesrv.clone()]));
    let route = client.route(&args.topic).await?;
    let queues: Vec<(String, i32)> = route
        .queue_datas
        .iter()
        .filter_map(|q| Client::master_addr(&route, &q.broker_name).map(|a| (a, q.read_queue_nums)))
        .flat_map(|(addr, n)| (0..n).map(move |i| (addr.clone(), i)))
        .collect();
    let (msgs, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let work = Arc::new(Mutex::new(queues));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, work, msgs, bytes, topic) = (client.clone(), work.clone(), msgs.clone(), bytes.clone(), args.topic.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some((addr, queue_id)) = work.lock().ok().and_then(|mut w| w.pop()) else { return };
                let mut offset = 0;
                while Instant::now() < deadline {
                    let h = PullMessageRequestHeader {
                        consumer_group: "rocketry_bench_consume".into(),
                        topic: topic.clone(),
                        queue_id,
                        queue_offset: offset,
                        max_msg_nums: 32,
                        sys_flag: pull_flag::SUBSCRIPTION,
                        subscription: Some("*".into()),
                        ..Default::default()
                    };
                    let Ok(r) = client.pull(&addr, &h).await else { break };
                    if r.code != response::SUCCESS {
                        break;
                    }
                    msgs.fetch_add(r.messages.len() as u64, Ordering::Relaxed);
                    bytes.fetch_add(r.messages.iter().map(|m| m.body.len() as u64).sum(), Ordering::Relaxed);
                    offset = r.header.next_begin_offset;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (n, b) = (msgs.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed));
    let (tps, mbps) = (n as f64 / elapsed, b as f64 / elapsed / (1024.0 * 1024.0));
    if args.json {
        println!("{}", serde_json::json!({"msgs": n, "seconds": elapsed, "msgs_per_sec": tps, "mb_per_sec": mbps}));
    } else {
        println!("consumed {n} msgs in {elapsed:.1}s: {tps:.0} msgs/s, {mbps:.1} MB/s (bodies)");
    }
    client.close();
    Ok(())
}

/// Creates `topic` with `queues` queues on every broker that serves TBW102, then waits
/// for its route to show them.
async fn create_topic(client: &Client, topic: &str, queues: i32) -> Result<(), super::Error> {
    let template = client.route("TBW102").await?;
    let brokers: Vec<String> = template.broker_datas.iter().filter_map(|b| b.broker_addrs.get(&0).cloned()).collect();
    let config = protocol::body::TopicConfig { topic_name: topic.to_string(), read_queue_nums: queues, write_queue_nums: queues, ..Default::default() };
    for addr in &brokers {
        client.create_topic(addr, &config).await?;
    }
    for _ in 0..100 {
        if let Ok(r) = client.route(topic).await {
            if r.queue_datas.iter().map(|q| q.write_queue_nums).sum::<i32>() == queues * brokers.len() as i32 {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("topic {topic} did not get its route").into())
}

async fn produce(args: ProduceArgs) -> Result<(), super::Error> {
    let client = Arc::new(Client::new(vec![args.namesrv.clone()]));
    if let Some(q) = args.queues {
        create_topic(&client, &args.topic, q).await?;
    }
    // A topic that does not exist yet is sent to through TBW102's route, as the Java
    // producer does; the broker creates it on the first send (4 queues).
    let route = match client.route(&args.topic).await {
        Ok(r) => r,
        Err(client::ClientError::Server { code: protocol::codes::response::TOPIC_NOT_EXIST, .. }) => {
            let mut r = client.route("TBW102").await?;
            r.queue_datas.iter_mut().for_each(|q| q.write_queue_nums = q.write_queue_nums.min(4));
            r
        }
        Err(e) => return Err(e.into()),
    };
    let targets: Vec<(String, i32)> = route
        .queue_datas
        .iter()
        .filter_map(|q| Client::master_addr(&route, &q.broker_name).map(|a| (a, q.write_queue_nums)))
        .flat_map(|(addr, n)| (0..n).map(move |i| (addr.clone(), i)))
        .collect();
    if targets.is_empty() {
        return Err(format!("topic {} has no writable queues", args.topic).into());
    }
    let body = Bytes::from(vec![b'x'; args.size]);
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?));
    let sent = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let mut tasks = Vec::new();
    for w in 0..args.concurrency {
        let (client, body, hist, sent, errors, targets, topic) = (client.clone(), body.clone(), hist.clone(), sent.clone(), errors.clone(), targets.clone(), args.topic.clone());
        let batch = args.batch.max(1);
        tasks.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("static bounds are valid");
            let mut i = w;
            // At least one send per sender, so `-d 0` is a quick end-to-end check.
            loop {
                if i > w && Instant::now() >= deadline {
                    break;
                }
                let (addr, queue) = &targets[i % targets.len()];
                i += 1;
                let t0 = Instant::now();
                let result = if batch == 1 {
                    client.send(addr, &topic, *queue, body.clone(), Properties::default()).await.map(|_| ())
                } else {
                    let items = (0..batch).map(|_| (body.clone(), Properties::default())).collect();
                    client.send_batch(addr, &topic, *queue, items).await.map(|_| ())
                };
                match result {
                    Ok(()) => {
                        let _ = local.record(t0.elapsed().as_micros().max(1) as u64);
                        sent.fetch_add(batch as u64, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if let Ok(mut h) = hist.lock() {
                let _ = h.add(&local);
            }
        }));
    }
    let progress = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut last = 0;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let now = sent.load(Ordering::Relaxed);
                eprintln!("{:>10} msgs/s  total {}", now - last, now);
                last = now;
            }
        })
    };
    for t in tasks {
        let _ = t.await;
    }
    progress.abort();
    let elapsed = started.elapsed().as_secs_f64();
    let total = sent.load(Ordering::Relaxed);
    let h = hist.lock().map_err(|_| "histogram lock poisoned")?;
    let tps = total as f64 / elapsed;
    let mbps = tps * args.size as f64 / (1024.0 * 1024.0);
    let (p50, p99, p999, max) = (h.value_at_quantile(0.5), h.value_at_quantile(0.99), h.value_at_quantile(0.999), h.max());
    let errs = errors.load(Ordering::Relaxed);
    if args.json {
        println!(
            "{}",
            serde_json::json!({"msgs": total, "seconds": elapsed, "msgs_per_sec": tps, "mb_per_sec": mbps,
                "latency_us": {"p50": p50, "p99": p99, "p999": p999, "max": max}, "errors": errs, "size": args.size,
                "concurrency": args.concurrency, "batch": args.batch})
        );
    } else {
        println!("sent {total} msgs in {elapsed:.1}s: {tps:.0} msgs/s, {mbps:.1} MB/s, errors {errs}");
        println!("send latency (per request): p50 {p50} us, p99 {p99} us, p99.9 {p999} us, max {max} us");
    }
    client.close();
    Ok(())
}
