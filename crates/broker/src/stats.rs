//! Message counters for GET_BROKER_RUNTIME_INFO, sampled once a second.

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
