//! Metrics in Prometheus' text exposition format (0.0.4), as the Java broker's exporter serves
//! them: [`Exposition`] writes families, [`Histogram`] counts with fixed buckets, [`RpcLatency`]
//! is `rocketmq_rpc_latency` (Java keeps it in its remoting module too), [`process`] adds the
//! standard `process_*` figures.
//!
//! Hand-written rather than on a client crate: the families are computed at scrape time from
//! the servers' own state (topics, groups, offsets come and go), names carry Java's unit
//! suffixes (`rocketmq_rpc_latency_milliseconds_bucket`), and recording must cost an atomic
//! add on the hot path. The crates we looked at (prometheus, prometheus-client) own their
//! registries and name families their own way (OpenMetrics) — this module is a text writer
//! and three small types.

use std::collections::HashMap;
use std::fmt::{Display, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Writes families: `# HELP` and `# TYPE` once per name, then its samples, each with the
/// common labels first.
pub struct Exposition {
    out: String,
    common: Vec<(String, String)>,
}

/// Label pairs of one sample.
pub type Labels<'a> = [(&'a str, &'a str)];

impl Exposition {
    /// A writer whose every sample carries `common` (cluster, node type and id …).
    pub fn new(common: Vec<(String, String)>) -> Exposition {
        Exposition { out: String::with_capacity(16 * 1024), common }
    }

    /// Starts a family: `kind` is counter, gauge, histogram or untyped.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample of the family started last.
    pub fn sample(&mut self, name: &str, labels: &Labels<'_>, value: impl Display) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    /// A histogram's samples (`_bucket` per bound and `+Inf`, `_sum`, `_count`) under `name`.
    pub fn histogram(&mut self, name: &str, labels: &Labels<'_>, h: &HistogramSnapshot) {
        let mut cumulative = 0;
        for (i, count) in h.counts.iter().enumerate() {
            cumulative += count;
            let le = h.bounds.get(i).map_or_else(|| "+Inf".to_string(), |b| format!("{b}.0"));
            self.out.push_str(name);
            self.out.push_str("_bucket");
            self.labels(labels, Some(&le));
            let _ = writeln!(self.out, " {cumulative}");
        }
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, cumulative);
    }

    fn labels(&mut self, labels: &Labels<'_>, le: Option<&str>) {
        let common = std::mem::take(&mut self.common);
        let mut first = true;
        let mut put = |out: &mut String, k: &str, v: &str| {
            out.push(if first { '{' } else { ',' });
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        };
        for (k, v) in &common {
            put(&mut self.out, k, v);
        }
        for (k, v) in labels {
            put(&mut self.out, k, v);
        }
        if let Some(le) = le {
            put(&mut self.out, "le", le);
        }
        if !first {
            self.out.push('}');
        }
        self.common = common;
    }

    /// Replaces the labels every sample carries from here on (two servers of one process
    /// writing into one exposition); returns the previous ones.
    pub fn set_common(&mut self, common: Vec<(String, String)>) -> Vec<(String, String)> {
        std::mem::replace(&mut self.common, common)
    }

    /// Appends another exposition's text (families with other names).
    pub fn append(&mut self, text: &str) {
        self.out.push_str(text);
    }

    /// Everything written so far.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Counts of observations below fixed bounds (Prometheus `le`, inclusive), and their sum.
pub struct Histogram {
    bounds: &'static [u64],
    /// One per bound, then the overflow (`+Inf`).
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

/// A histogram read at one moment.
pub struct HistogramSnapshot {
    pub bounds: &'static [u64],
    pub counts: Vec<u64>,
    pub sum: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [u64]) -> Histogram {
        Histogram { bounds, counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(), sum: AtomicU64::new(0) }
    }

    pub fn observe(&self, value: u64) {
        let i = self.bounds.partition_point(|b| *b < value);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds,
            counts: self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// How an answer ended, the `result` label of `rocketmq_rpc_latency` (Java's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpcResult {
    Success,
    Oneway,
    WriteChannelFailed,
    /// A request that wanted an answer got none.
    ProcessRequestFailed,
}

impl RpcResult {
    fn label(self) -> &'static str {
        match self {
            RpcResult::Success => "success",
            RpcResult::Oneway => "oneway",
            RpcResult::WriteChannelFailed => "write_channel_failed",
            RpcResult::ProcessRequestFailed => "process_request_failed",
        }
    }
}

/// One answered request, as the transport saw it.
#[derive(Debug, Clone, Copy)]
pub struct Answered {
    pub request_code: i32,
    /// `None` for a oneway request.
    pub response_code: Option<i32>,
    /// The request was parked (a long-polling pull or pop).
    pub long_polling: bool,
    pub result: RpcResult,
    pub elapsed: Duration,
}

/// Java's buckets for `rocketmq_rpc_latency`, in milliseconds.
pub const RPC_LATENCY_MS: &[u64] = &[1, 3, 5, 7, 10, 100, 1000, 2000, 3000];

type RpcKey = (i32, Option<i32>, bool, RpcResult);

/// `rocketmq_rpc_latency`: a histogram per request code, response code, long polling and result.
#[derive(Default)]
pub struct RpcLatency {
    series: RwLock<HashMap<RpcKey, Arc<Histogram>>>,
}

/// The key of the requests whose code Java does not have: all counted as one, so a client
/// sending made-up codes cannot grow the table (every other key is bounded by Java's codes).
const UNKNOWN_CODE: i32 = i32::MIN;

impl RpcLatency {
    pub fn record(&self, a: &Answered) {
        let request = if protocol::code_names::request(a.request_code).is_some() { a.request_code } else { UNKNOWN_CODE };
        let response = a.response_code.map(|c| if protocol::code_names::response(c).is_some() { c } else { UNKNOWN_CODE });
        let key = (request, response, a.long_polling, a.result);
        let ms = a.elapsed.as_millis().min(u64::MAX as u128) as u64;
        if let Some(h) = self.series.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            h.observe(ms);
            return;
        }
        let mut series = self.series.write().unwrap_or_else(|e| e.into_inner());
        series.entry(key).or_insert_with(|| Arc::new(Histogram::new(RPC_LATENCY_MS))).observe(ms);
    }

    /// The family's name and help: write them once, then each server's [`RpcLatency::series`].
    pub fn family(out: &mut Exposition) {
        out.family("rocketmq_rpc_latency_milliseconds", "histogram", "Latency of the requests served, by request and response code (ms).");
    }

    /// The family with this server's series.
    pub fn write(&self, out: &mut Exposition) {
        Self::family(out);
        self.series(out);
    }

    /// This server's series of `rocketmq_rpc_latency_milliseconds`, codes named as Java
    /// names them.
    pub fn series(&self, out: &mut Exposition) {
        let series: Vec<(RpcKey, HistogramSnapshot)> = self.series.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, h)| (*k, h.snapshot())).collect();
        for ((request, response, long_polling, result), h) in series {
            let request = protocol::code_names::request(request).unwrap_or("unknown").to_string();
            let response = response.map(|c| protocol::code_names::response(c).unwrap_or("unknown").to_string());
            let mut labels = vec![("protocol_type", "remoting"), ("request_code", request.as_str()), ("result", result.label())];
            if let Some(r) = &response {
                labels.push(("response_code", r.as_str()));
            }
            labels.push(("is_long_polling", if long_polling { "true" } else { "false" }));
            out.histogram("rocketmq_rpc_latency_milliseconds", &labels, &h);
        }
    }
}

/// The standard `process_*` figures of this process (Linux `/proc/self`; elsewhere none).
pub fn process(out: &mut Exposition) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return };
    // The fields after the command name (which may hold spaces, in parentheses): proc(5)'s
    // field n is at n - 3.
    let Some((_, rest)) = stat.rsplit_once(')') else { return };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // /proc counts times in USER_HZ, 100 per second on Linux whatever the kernel's HZ.
    const TICKS: f64 = 100.0;
    let (utime, stime, start) = (num(14), num(15), num(22));
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<f64>().ok())))
        .unwrap_or(0.0);
    // Sizes in kB, so no page size is needed.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| status.lines().find_map(|l| l.strip_prefix(key)?.split_whitespace().next()?.parse::<f64>().ok()).unwrap_or(0.0);
    out.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    out.sample("process_cpu_seconds_total", &[], (utime + stime) / TICKS);
    out.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
    out.sample("process_start_time_seconds", &[], boot + start / TICKS);
    out.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    out.sample("process_virtual_memory_bytes", &[], field("VmSize:") * 1024.0);
    out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    out.sample("process_resident_memory_bytes", &[], field("VmRSS:") * 1024.0);
    out.family("process_threads", "gauge", "Number of OS threads in the process.");
    out.sample("process_threads", &[], field("Threads:"));
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        out.family("process_open_fds", "gauge", "Number of open file descriptors.");
        out.sample("process_open_fds", &[], fds.count());
    }
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| l.lines().find(|l| l.starts_with("Max open files")).and_then(|l| l.split_whitespace().nth(3)?.parse::<u64>().ok()));
    if let Some(max) = max_fds {
        out.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
        out.sample("process_max_fds", &[], max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_count_into_inclusive_buckets() {
        let h = Histogram::new(&[1, 10]);
        for v in [0, 1, 2, 10, 11] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!((s.counts.as_slice(), s.sum), (&[2, 2, 1][..], 24));
    }

    #[test]
    fn exposition_writes_families_labels_and_escapes() {
        let mut out = Exposition::new(vec![("cluster".into(), "C".into())]);
        out.family("x_total", "counter", "Things.");
        out.sample("x_total", &[("topic", "a\"b\\c\nd")], 3);
        let h = Histogram::new(&[5]);
        h.observe(7);
        out.family("y", "histogram", "Sizes.");
        out.histogram("y", &[], &h.snapshot());
        let text = out.finish();
        assert!(text.contains("# TYPE x_total counter\n"), "{text}");
        assert!(text.contains("x_total{cluster=\"C\",topic=\"a\\\"b\\\\c\\nd\"} 3\n"), "{text}");
        assert!(
            text.contains("y_bucket{cluster=\"C\",le=\"5.0\"} 0\ny_bucket{cluster=\"C\",le=\"+Inf\"} 1\ny_sum{cluster=\"C\"} 7\ny_count{cluster=\"C\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn rpc_latency_names_codes_as_java() {
        let rpc = RpcLatency::default();
        let a = Answered { request_code: 310, response_code: Some(0), long_polling: false, result: RpcResult::Success, elapsed: Duration::from_millis(4) };
        rpc.record(&a);
        rpc.record(&Answered { request_code: 99_999, response_code: None, result: RpcResult::Oneway, ..a });
        let mut out = Exposition::new(Vec::new());
        rpc.write(&mut out);
        let text = out.finish();
        assert!(text.contains(r#"request_code="send_message_v2",result="success",response_code="success",is_long_polling="false",le="5.0"} 1"#), "{text}");
        assert!(text.contains(r#"request_code="unknown",result="oneway",is_long_polling="false""#), "{text}");
        // Made-up codes are one series, however many.
        for code in 100_000..100_100 {
            rpc.record(&Answered { request_code: code, response_code: Some(code), result: RpcResult::Success, ..a });
        }
        assert_eq!(rpc.series.read().unwrap().len(), 3);
    }

    #[test]
    fn process_figures_are_there_on_linux() {
        let mut out = Exposition::new(Vec::new());
        process(&mut out);
        let text = out.finish();
        if cfg!(target_os = "linux") {
            assert!(text.contains("process_resident_memory_bytes ") && text.contains("process_cpu_seconds_total "), "{text}");
        }
    }
}
