//! `rocketry bench consume`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use client::Client;

#[derive(Args)]
pub struct ConsumeArgs {
    #[arg(short = 'n', long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[command(flatten)]
    security: crate::security::Security,
    #[arg(short, long, default_value = "BenchmarkTest")]
    topic: String,
    /// Queues pulled at once.
    #[arg(short, long, default_value_t = 8)]
    concurrency: usize,
    /// Seconds to run at most (stops earlier when the backlog is drained).
    #[arg(short, long, default_value_t = 30)]
    duration: u64,
    /// Count the stored records without decoding them (walks their size fields), so the
    /// figure shows what the broker serves rather than what one client can decode. MB/s
    /// then counts whole records, not bodies.
    #[arg(long)]
    no_decode: bool,
    /// Consume by POP (RocketMQ 5) instead of pulling: each task pops one queue (32 at a
    /// time) and acknowledges each answer with one BATCH_ACK; the group pops from the queue's
    /// first message.
    #[arg(long)]
    pop: bool,
    /// With `--pop`: acknowledge each message with its own ACK_MESSAGE, as the Java push
    /// consumer does.
    #[arg(long)]
    ack_each: bool,
    /// With `--pop`: `concurrency` tasks each pop any queue of each broker (queue id -1, as
    /// the Java push consumer in POP mode does) instead of one queue each.
    #[arg(long)]
    any_queue: bool,
    /// Pull with this SQL92 expression as the subscription (the broker needs
    /// enablePropertyFilter=true); a pull that finds only non-matching messages moves on.
    #[arg(long)]
    sql: Option<String>,
    /// The consumer group (POP keeps its progress on the broker: use a new one per run).
    #[arg(short, long, default_value = "rocketry_bench_consume")]
    group: String,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Pulls every queue from offset 0 to its end, `concurrency` queues at a time.
pub async fn run(args: ConsumeArgs) -> Result<(), crate::Error> {
    use protocol::codes::response;
    use protocol::header::PullMessageRequestHeader;
    let client = Arc::new(args.security.client(&args.namesrv));
    let route = client.route(&args.topic).await?;
    let queues = super::master_queues(&route, |q| q.read_queue_nums);
    let queues: Vec<(String, i32)> = if args.pop && args.any_queue {
        let mut brokers: Vec<String> = queues.iter().map(|(a, _)| a.clone()).collect();
        brokers.dedup();
        brokers.iter().flat_map(|a| std::iter::repeat_n((a.clone(), -1), args.concurrency.max(1))).collect()
    } else {
        queues
    };
    let broker_names: Arc<std::collections::HashMap<String, String>> =
        Arc::new(route.broker_datas.iter().filter_map(|b| b.broker_addrs.get(&0).map(|a| (a.clone(), b.broker_name.clone()))).collect());
    let (msgs, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let work = Arc::new(Mutex::new(queues));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, work, msgs, bytes, topic, no_decode) = (client.clone(), work.clone(), msgs.clone(), bytes.clone(), args.topic.clone(), args.no_decode);
        let (pop, ack_each, group, broker_names, sql) = (args.pop, args.ack_each, args.group.clone(), broker_names.clone(), args.sql.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some((addr, queue_id)) = work.lock().ok().and_then(|mut w| w.pop()) else { return };
                if pop {
                    let name = broker_names.get(&addr).cloned().unwrap_or_default();
                    let (n, b) = pop_queue(&client, &addr, &name, &group, &topic, queue_id, ack_each, deadline).await;
                    msgs.fetch_add(n, Ordering::Relaxed);
                    bytes.fetch_add(b, Ordering::Relaxed);
                    continue;
                }
                let mut offset = 0;
                while Instant::now() < deadline {
                    let mut h = PullMessageRequestHeader::for_queue("rocketry_bench_consume", &topic, queue_id, offset);
                    if let Some(expr) = &sql {
                        h.subscription = Some(expr.clone());
                        h.expression_type = Some("SQL92".into());
                    }
                    // Only non-matching messages in this stretch: on past them.
                    let moved_on = |code: i32| code == response::PULL_RETRY_IMMEDIATELY;
                    let (n, b, next) = if no_decode {
                        let Ok(r) = client.pull_raw(&addr, &h).await else { break };
                        if moved_on(r.code) {
                            offset = r.header.next_begin_offset;
                            continue;
                        }
                        if r.code != response::SUCCESS {
                            break;
                        }
                        (count_records(&r.records), r.records.len() as u64, r.header.next_begin_offset)
                    } else {
                        let Ok(r) = client.pull(&addr, &h).await else { break };
                        if moved_on(r.code) {
                            offset = r.header.next_begin_offset;
                            continue;
                        }
                        if r.code != response::SUCCESS {
                            break;
                        }
                        (r.messages.len() as u64, r.messages.iter().map(|m| m.body.len() as u64).sum(), r.header.next_begin_offset)
                    };
                    msgs.fetch_add(n, Ordering::Relaxed);
                    bytes.fetch_add(b, Ordering::Relaxed);
                    offset = next;
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
        let what = if args.no_decode { "records" } else { "bodies" };
        let how = match (args.pop, args.ack_each) {
            (false, _) => "pulled",
            (true, false) => "popped (batch acks)",
            (true, true) => "popped (one ack each)",
        };
        println!("{how} {n} msgs in {elapsed:.1}s: {tps:.0} msgs/s, {mbps:.1} MB/s ({what})");
    }
    client.close();
    Ok(())
}

/// Pops one queue until it has nothing left (or the deadline), acknowledging everything;
/// returns (messages, body bytes).
#[allow(clippy::too_many_arguments)]
async fn pop_queue(
    client: &Arc<Client>,
    addr: &str,
    broker_name: &str,
    group: &str,
    topic: &str,
    queue_id: i32,
    ack_each: bool,
    deadline: Instant,
) -> (u64, u64) {
    use protocol::pop::PopMessageRequestHeader;
    let (mut n, mut b) = (0u64, 0u64);
    let mut acks = tokio::task::JoinSet::new();
    while Instant::now() < deadline {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let h = PopMessageRequestHeader {
            consumer_group: group.to_string(),
            topic: topic.to_string(),
            queue_id,
            max_msg_nums: 32,
            invisible_time: 60_000,
            poll_time: 0,
            born_time: now,
            init_mode: 0,
            ..Default::default()
        };
        let Ok(r) = client.pop(addr, broker_name, &h).await else { break };
        if r.messages.is_empty() {
            // Queues another pop is reading count in restNum: not drained yet.
            if r.header.rest_num > 0 && queue_id < 0 {
                continue;
            }
            break;
        }
        n += r.messages.len() as u64;
        b += r.messages.iter().map(|p| p.message.body.len() as u64).sum::<u64>();
        // Acks go out while the next pop is under way, as the Java push consumer acks
        // asynchronously; at most one pop's acks wait at a time.
        while acks.join_next().await.is_some() {}
        let (c, a, g, t) = (client.clone(), addr.to_string(), group.to_string(), topic.to_string());
        if ack_each {
            for p in r.messages {
                let (client, addr, group, topic) = (c.clone(), a.clone(), g.clone(), t.clone());
                acks.spawn(async move { client.ack(&addr, &group, &topic, &p.handle).await });
            }
        } else {
            acks.spawn(async move { c.batch_ack(&a, &g, &t, &r.messages).await });
        }
    }
    while acks.join_next().await.is_some() {}
    (n, b)
}

/// Stored records back to back: each starts with its total size.
fn count_records(mut records: &[u8]) -> u64 {
    let mut n = 0;
    while records.len() >= 4 {
        let size = i32::from_be_bytes([records[0], records[1], records[2], records[3]]);
        if size <= 0 || size as usize > records.len() {
            break;
        }
        records = &records[size as usize..];
        n += 1;
    }
    n
}
