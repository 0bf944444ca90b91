//! Message counters for GET_BROKER_RUNTIME_INFO, sampled once a second.

#[cfg(test)]
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Broker;

/// Seconds of history kept: an hour, for the dashboard's charts (RocketMQ's longest TPS
/// window is 10 minutes).
const WINDOW_SECS: usize = 3600;

#[derive(Default)]
pub struct Stats {
    pub put_total: AtomicU64,
    pub get_total: AtomicU64,
    /// Stored puts' sizes, failed puts, put and read latencies: the store figures Java's
    /// runtime info carries (`StoreStatsService`).
    pub puts: PutStats,
    /// Samples of (put_total, get_total), newest last.
    history: Mutex<VecDeque<(u64, u64)>>,
}

impl Stats {
    fn record(&self) {
        let sample = (self.put_total.load(Ordering::Relaxed), self.get_total.load(Ordering::Relaxed));
        let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        h.push_back(sample);
        while h.len() > WINDOW_SECS + 1 {
            h.pop_front();
        }
    }

    /// "tps10s tps60s tps600s" as RocketMQ prints putTps / getTransferredTps.
    pub fn tps(&self, puts: bool) -> String {
        let h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let pick = |s: &(u64, u64)| if puts { s.0 } else { s.1 };
        let rate = |secs: usize| -> f64 {
            let n = h.len();
            if n < 2 {
                return 0.0;
            }
            let span = secs.min(n - 1);
            (pick(&h[n - 1]) - pick(&h[n - 1 - span])) as f64 / span as f64
        };
        format!("{:.2} {:.2} {:.2}", rate(10), rate(60), rate(600))
    }
}

impl Stats {
    /// Messages stored and handed out per second over the last `secs` seconds (at most an
    /// hour), averaged over steps of `step` seconds, oldest first.
    pub fn rates(&self, secs: usize, step: usize) -> Vec<(f64, f64)> {
        let h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let step = step.max(1);
        let n = h.len();
        let from = n.saturating_sub(secs.min(WINDOW_SECS) + 1);
        let mut out = Vec::new();
        let mut i = from;
        while i + step < n {
            let (a, b) = (h[i], h[i + step]);
            out.push(((b.0 - a.0) as f64 / step as f64, (b.1 - a.1) as f64 / step as f64));
            i += step;
        }
        out
    }
}

pub(crate) async fn sample(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        broker.stats.record();
    }
}

/// Java's put-latency ranges (`putMessageDistributeTime`), by exclusive upper bound in ms.
const PUT_RANGES: [(&str, u64); 13] = [
    ("[<=0ms]", 1),
    ("[0~10ms]", 10),
    ("[10~50ms]", 50),
    ("[50~100ms]", 100),
    ("[100~200ms]", 200),
    ("[200~500ms]", 500),
    ("[500ms~1s]", 1000),
    ("[1~2s]", 2000),
    ("[2~3s]", 3000),
    ("[3~4s]", 4000),
    ("[4~5s]", 5000),
    ("[5~10s]", 10_000),
    ("[10s~]", u64::MAX),
];

/// Fine latency buckets for the percentiles: 1 ms wide below 100 ms, 10 ms below 1 s, 100 ms
/// below 10 s, then one for the rest. Atomic counters, so a put never takes a lock.
const FINE_BUCKETS: usize = 100 + 90 + 90 + 1;

fn fine_index(ms: u64) -> usize {
    match ms {
        0..100 => ms as usize,
        100..1000 => 100 + (ms as usize - 100) / 10,
        1000..10_000 => 190 + (ms as usize - 1000) / 100,
        _ => FINE_BUCKETS - 1,
    }
}

/// The exclusive upper bound of fine bucket `i`, in ms.
fn fine_upper(i: usize) -> f64 {
    match i {
        0..100 => (i + 1) as f64,
        100..190 => (100 + (i - 99) * 10) as f64,
        190..280 => (1000 + (i - 189) * 100) as f64,
        _ => 20_000.0,
    }
}

/// Puts' latency, size and failures, and reads' longest latency, since the broker started
/// (Java's figures are those of the last minute: ours are cumulative, as the other totals).
/// Java's coarse ranges are sums of the fine buckets, whose bounds include theirs.
pub struct PutStats {
    size_total: AtomicU64,
    failed: AtomicU64,
    max_ms: AtomicU64,
    get_max_ms: AtomicU64,
    fine: [AtomicU64; FINE_BUCKETS],
}

impl Default for PutStats {
    fn default() -> Self {
        PutStats {
            size_total: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            max_ms: AtomicU64::new(0),
            get_max_ms: AtomicU64::new(0),
            fine: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl PutStats {
    /// A put that took `elapsed` (stored: `bytes` written; `None`: failed).
    pub fn put(&self, elapsed: Duration, bytes: Option<u64>) {
        let ms = elapsed.as_millis() as u64;
        self.max_ms.fetch_max(ms, Ordering::Relaxed);
        self.fine[fine_index(ms)].fetch_add(1, Ordering::Relaxed);
        match bytes {
            Some(b) => self.size_total.fetch_add(b, Ordering::Relaxed),
            None => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// A read of the store that took `elapsed`.
    pub fn get(&self, elapsed: Duration) {
        self.get_max_ms.fetch_max(elapsed.as_millis() as u64, Ordering::Relaxed);
    }

    /// The latency below which `px` of the puts took, in ms, interpolated within its bucket
    /// as Java's `findPutMessageEntireTimePX`.
    pub fn latency_px(&self, px: f64) -> f64 {
        let counts: Vec<u64> = self.fine.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let target = (total as f64 * px) as u64;
        let mut passed = 0;
        for (i, count) in counts.iter().enumerate() {
            if target <= passed + count {
                let lower = if i == 0 { 0.0 } else { fine_upper(i - 1) };
                let within = if *count == 0 { 0.0 } else { (target - passed) as f64 / *count as f64 };
                return lower + (fine_upper(i) - lower) * within;
            }
            passed += count;
        }
        0.0
    }

    /// Java's runtime-info keys for these figures, given the count of stored messages.
    pub fn runtime_info(&self, stored: u64, put: &mut impl FnMut(&str, String)) {
        let size = self.size_total.load(Ordering::Relaxed);
        // Java divides by at least one, and says one put when there was none.
        let times = stored.max(1);
        put("putMessageTimesTotal", times.to_string());
        put("putMessageSizeTotal", size.to_string());
        put("putMessageAverageSize", java_double(size as f64 / times as f64));
        put("putMessageFailedTimes", self.failed.load(Ordering::Relaxed).to_string());
        put("putMessageEntireTimeMax", self.max_ms.load(Ordering::Relaxed).to_string());
        put("getMessageEntireTimeMax", self.get_max_ms.load(Ordering::Relaxed).to_string());
        // Each fine bucket counts in the first of Java's ranges that ends at or past its end.
        let mut ranges = [0u64; PUT_RANGES.len()];
        for (i, count) in self.fine.iter().enumerate() {
            let end = if i == FINE_BUCKETS - 1 { u64::MAX } else { fine_upper(i) as u64 };
            let r = PUT_RANGES.iter().position(|(_, upper)| end <= *upper).unwrap_or(PUT_RANGES.len() - 1);
            ranges[r] += count.load(Ordering::Relaxed);
        }
        let ranges: String = PUT_RANGES.iter().zip(ranges).map(|((name, _), n)| format!("{name}:{n} ")).collect();
        put("putMessageDistributeTime", ranges);
        put("putLatency99", format!("{:.2}", self.latency_px(0.99)));
        put("putLatency999", format!("{:.2}", self.latency_px(0.999)));
        // Dispatch runs in the appender, in step with each write: nothing is buffered for it.
        put("dispatchMaxBuffer", "0".into());
    }
}

/// A double as Java's `String.valueOf` writes one ("12.0", "0.5").
fn java_double(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_figures_follow_javas_keys_ranges_and_interpolation() {
        let s = PutStats::default();
        for ms in [0, 0, 5, 5, 5, 5, 5, 5, 5, 120] {
            s.put(Duration::from_millis(ms), Some(100));
        }
        s.put(Duration::from_millis(3), None);
        s.get(Duration::from_millis(7));
        let mut kv = BTreeMap::new();
        s.runtime_info(10, &mut |k, v| {
            kv.insert(k.to_string(), v);
        });
        assert_eq!(kv["putMessageTimesTotal"], "10");
        assert_eq!(kv["putMessageSizeTotal"], "1000");
        assert_eq!(kv["putMessageAverageSize"], "100.0");
        assert_eq!(kv["putMessageFailedTimes"], "1");
        assert_eq!(kv["putMessageEntireTimeMax"], "120");
        assert_eq!(kv["getMessageEntireTimeMax"], "7");
        assert!(kv["putMessageDistributeTime"].starts_with("[<=0ms]:2 [0~10ms]:8 [10~50ms]:0 [50~100ms]:0 [100~200ms]:1 "));
        // 11 puts: Java's index is 10 (11 × 0.99, truncated), the last of the seven 5 ms puts.
        assert_eq!(kv["putLatency99"], "6.00");
        // 98 puts at 5 ms and 2 at 120 ms: the 99th is half-way into the [120, 130) bucket.
        let p = PutStats::default();
        for ms in std::iter::repeat_n(5, 98).chain([120, 120]) {
            p.put(Duration::from_millis(ms), Some(1));
        }
        assert_eq!(p.latency_px(0.99), 125.0);
        let mut none = BTreeMap::new();
        PutStats::default().runtime_info(0, &mut |k, v| {
            none.insert(k.to_string(), v);
        });
        assert_eq!((none["putMessageTimesTotal"].as_str(), none["putLatency99"].as_str()), ("1", "0.00"));
        // Java's ranges at their edges, summed from the fine buckets.
        let edges = PutStats::default();
        for ms in [1, 9, 10, 199, 200, 999, 1000, 9999, 10_000] {
            edges.put(Duration::from_millis(ms), Some(1));
        }
        let mut kv = BTreeMap::new();
        edges.runtime_info(9, &mut |k, v| {
            kv.insert(k.to_string(), v);
        });
        assert_eq!(
            kv["putMessageDistributeTime"],
            "[<=0ms]:0 [0~10ms]:2 [10~50ms]:1 [50~100ms]:0 [100~200ms]:1 [200~500ms]:1 [500ms~1s]:1 [1~2s]:1 [2~3s]:0 [3~4s]:0 [4~5s]:0 [5~10s]:1 [10s~]:1 "
        );
        for ms in [0, 99, 100, 999, 1000, 9999, 10_000, 50_000] {
            let i = fine_index(ms);
            assert!((ms as f64) < fine_upper(i) || i == FINE_BUCKETS - 1, "{ms} in bucket {i}");
            assert!(i == 0 || ms as f64 >= fine_upper(i - 1), "{ms} above bucket {}", i - 1);
        }
    }
}
