//! `rocketry bench`: load generators in the spirit of RocketMQ's benchmark tools, over our
//! own client, and a trivial sink that marks this machine's loopback ceiling.
//!
//! - `produce`: fixed-size sends at full speed or at a fixed `--rate`, sync or pipelined
//!   (`--async`), single or batched; latency from the intended send time under `--rate`.
//!   `--transactional`: each send a half message and its commit.
//! - `consume`: drains a topic's backlog from offset 0.
//! - `e2e`: produces at a fixed rate and consumes with long polling; reports the time from
//!   the intended send to the consumer having the message.
//! - `sink`: answers sends with SUCCESS and stores nothing.
//! - `idle`: opens and holds connections, to measure what an idle one costs.

mod consume;
mod e2e;
mod idle;
mod produce;
mod sink;
mod timer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Subcommand;
use client::Client;
use hdrhistogram::Histogram;

pub use consume::ConsumeArgs;
pub use e2e::E2eArgs;
pub use idle::IdleArgs;
pub use produce::ProduceArgs;
pub use sink::SinkArgs;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Produce at full speed (or `--rate`) and report msgs/s and send latency.
    Produce(ProduceArgs),
    /// Pull a topic's backlog from the first offset of every queue and report msgs/s and MB/s.
    Consume(ConsumeArgs),
    /// Produce at a fixed rate while consuming; report end-to-end latency.
    E2e(E2eArgs),
    /// A trivial broker: answers every send with SUCCESS and stores nothing.
    Sink(SinkArgs),
    /// Open and hold idle connections (each sends one heartbeat); `bench/idle.sh` measures
    /// what they cost the broker.
    Idle(IdleArgs),
    /// Timer messages: send many pending and a burst due in one second; report the send rate
    /// and the burst's delivery lateness.
    Timer(timer::TimerArgs),
}

pub async fn run(cmd: BenchCommand) -> Result<(), super::Error> {
    match cmd {
        BenchCommand::Produce(args) => produce::run(args).await,
        BenchCommand::Consume(args) => consume::run(args).await,
        BenchCommand::E2e(args) => e2e::run(args).await,
        BenchCommand::Sink(args) => sink::run(args).await,
        BenchCommand::Idle(args) => idle::run(args).await,
        BenchCommand::Timer(args) => timer::run(args).await,
    }
}

/// Latencies in microseconds, from 1 µs to 60 s at 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static bounds are valid")
}

/// A histogram shared by tasks that each record into their own and merge at the end.
#[derive(Clone)]
struct Latencies(Arc<Mutex<Histogram<u64>>>);

impl Latencies {
    fn new() -> Self {
        Latencies(Arc::new(Mutex::new(histogram())))
    }

    fn merge(&self, local: &Histogram<u64>) {
        if let Ok(mut h) = self.0.lock() {
            let _ = h.add(local);
        }
    }

    /// p50, p99, p99.9 and max in microseconds.
    fn summary(&self) -> serde_json::Value {
        let h = self.0.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::json!({"p50": h.value_at_quantile(0.5), "p99": h.value_at_quantile(0.99),
            "p999": h.value_at_quantile(0.999), "max": h.max(), "count": h.len()})
    }
}

fn describe(l: &serde_json::Value) -> String {
    format!("p50 {} us, p99 {} us, p99.9 {} us, max {} us", l["p50"], l["p99"], l["p999"], l["max"])
}

/// Prints the per-second count of `counter` to stderr until aborted.
fn progress(label: &'static str, counter: Arc<AtomicU64>, errors: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (mut last, mut last_err) = (0, 0);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            let (now, err) = (counter.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
            eprintln!("{:>10} {label}/s  total {now}  errors {}", now - last, err - last_err);
            (last, last_err) = (now, err);
        }
    })
}

/// A fixed-rate schedule shared by senders: the k-th message is due at `start + k / rate`.
/// Without a rate every message is due at once.
///
/// With a rate, a pacer thread hands out sends as they fall due, to within about
/// `PACER_TICK`: a sender waiting on tokio's timer would wake at the next millisecond tick,
/// up to a millisecond late, and send in bursts; that lateness would count as the broker's
/// latency (it is measured from the due time) on every send.
struct Schedule {
    start: Instant,
    deadline: Instant,
    interval_ns: Option<f64>,
    next: AtomicU64,
    /// One permit per send fallen due (rate only); closed once the deadline has passed.
    due: Arc<tokio::sync::Semaphore>,
}

/// How often, at most, the pacer wakes: sends due closer together go out in small groups.
const PACER_TICK: Duration = Duration::from_micros(50);

impl Schedule {
    fn new(rate: Option<u64>, duration: Duration) -> Self {
        // A due time past the deadline ends a sender; without a rate the deadline is checked
        // against the clock.
        let start = Instant::now();
        let interval_ns = rate.filter(|r| *r > 0).map(|r| 1e9 / r as f64);
        let due = Arc::new(tokio::sync::Semaphore::new(0));
        let deadline = start + duration;
        match interval_ns {
            Some(ns) => {
                let permits = due.clone();
                let spawned = std::thread::Builder::new().name("bench-pacer".into()).spawn(move || pacer(&permits, start, ns, deadline));
                if spawned.is_err() {
                    // No pacer: every send is due now (latency still counts from its due time).
                    due.close();
                }
            }
            None => due.close(),
        }
        Schedule { start, deadline, interval_ns, next: AtomicU64::new(0), due }
    }

    /// The next message's number and due time, waiting until it falls due, or None when it
    /// falls past the deadline. With `min_each` one is always given, so a zero duration
    /// still sends.
    async fn take(&self, min_each: bool) -> Option<(usize, Instant)> {
        // Closed (an error): the pacer is done (or there is no rate), so whatever is left is due.
        if let Ok(permit) = self.due.acquire().await {
            permit.forget();
        }
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let due = match self.interval_ns {
            Some(ns) => self.start + Duration::from_nanos((k as f64 * ns) as u64),
            None => Instant::now(),
        };
        (min_each || due < self.deadline).then_some((k as usize, due))
    }
}

/// Releases one permit per send as its due time passes, until the deadline; then closes.
fn pacer(permits: &tokio::sync::Semaphore, start: Instant, interval_ns: f64, deadline: Instant) {
    // Sleeps end within a microsecond of what is asked, not the default 50 µs slack.
    // SAFETY: a plain prctl on the calling thread; failure only leaves the default slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong) };
    let mut released = 0u64;
    loop {
        let now = Instant::now();
        // Sends due by now: k with start + k * interval <= now.
        let fallen_due = ((now.min(deadline) - start).as_nanos() as f64 / interval_ns) as u64 + 1;
        if fallen_due > released {
            permits.add_permits((fallen_due - released) as usize);
            released = fallen_due;
        }
        if now >= deadline {
            break;
        }
        let next = start + Duration::from_nanos((released as f64 * interval_ns) as u64);
        std::thread::sleep(next.saturating_duration_since(Instant::now()).max(PACER_TICK));
    }
    permits.close();
}

/// Where one send goes.
#[derive(Clone)]
struct Target {
    addr: String,
    topic: Arc<str>,
    queue: i32,
}

/// Where sends go: every writable queue of each topic.
async fn targets(client: &Client, topics: &[String], direct: Option<&str>, queues: Option<i32>) -> Result<Vec<Target>, super::Error> {
    let mut all = Vec::new();
    for topic in topics {
        let name: Arc<str> = topic.as_str().into();
        if let Some(addr) = direct {
            all.extend((0..queues.unwrap_or(8).max(1)).map(|queue| Target { addr: addr.to_string(), topic: name.clone(), queue }));
            continue;
        }
        if let Some(q) = queues {
            create_topic(client, topic, q).await?;
        }
        // A topic that does not exist yet is sent to through TBW102's route, as the Java
        // producer does; the broker creates it on the first send (4 queues).
        let route = match client.route(topic).await {
            Ok(r) => r,
            Err(client::ClientError::Server { code: protocol::codes::response::TOPIC_NOT_EXIST, .. }) => {
                let mut r = client.route("TBW102").await?;
                r.queue_datas.iter_mut().for_each(|q| q.write_queue_nums = q.write_queue_nums.min(4));
                r
            }
            Err(e) => return Err(e.into()),
        };
        let before = all.len();
        all.extend(master_queues(&route, |q| q.write_queue_nums).into_iter().map(|(addr, queue)| Target { addr, topic: name.clone(), queue }));
        if all.len() == before {
            return Err(format!("topic {topic} has no writable queues").into());
        }
    }
    Ok(all)
}

/// Every queue of `route` on its master: (broker address, queue id), with `count` of a
/// broker's queues (its read or its write queues).
fn master_queues(route: &protocol::body::TopicRouteData, count: fn(&protocol::body::QueueData) -> i32) -> Vec<(String, i32)> {
    route
        .queue_datas
        .iter()
        .filter_map(|q| Client::master_addr(route, &q.broker_name).map(|a| (a, count(q))))
        .flat_map(|(addr, n)| (0..n).map(move |i| (addr.clone(), i)))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paced_schedule_gives_each_send_once_and_never_before_it_is_due() {
        let schedule = Arc::new(Schedule::new(Some(2_000), Duration::from_millis(200)));
        let takers: Vec<_> = (0..4)
            .map(|_| {
                let s = schedule.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    while let Some((k, due)) = s.take(false).await {
                        assert!(Instant::now() >= due, "send {k} given before it was due");
                        got.push(k);
                    }
                    got
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in takers {
            all.extend(t.await.unwrap());
        }
        all.sort_unstable();
        assert_eq!(all, (0..400).collect::<Vec<_>>(), "2,000/s for 200 ms: sends 0 to 399, each once");
        // A zero duration still gives one send to each taker that asks for one.
        let once = Schedule::new(Some(10), Duration::ZERO);
        assert!(once.take(true).await.is_some() && once.take(true).await.is_some() && once.take(false).await.is_none());
    }
}
