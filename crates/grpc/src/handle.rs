//! A message's receipt handle over gRPC: the POP handle the remoting protocol uses
//! (`ckQueueOffset popTime invisibleTime reviveQid retryFlag brokerName queueId queueOffset`)
//! plus the message's CommitLog offset, which forwarding to the dead-letter queue needs;
//! nine fields, as the Java proxy's. Clients treat it as opaque.

use protocol::pop::ExtraInfo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    pub info: ExtraInfo,
    pub commit_log_offset: Option<i64>,
}

impl Handle {
    pub fn encode(&self) -> String {
        match self.commit_log_offset {
            Some(o) => format!("{} {o}", self.info.encode()),
            None => self.info.encode(),
        }
    }

    /// A handle this broker gave out: eight or nine fields with the message's offset.
    pub fn parse(s: &str) -> Option<Handle> {
        let info = ExtraInfo::parse(s).ok()?;
        info.queue_offset?;
        let commit_log_offset = match s.split(' ').nth(8) {
            Some(o) => Some(o.parse().ok()?),
            None => None,
        };
        if s.split(' ').count() > 9 {
            return None;
        }
        Some(Handle { info, commit_log_offset })
    }

    /// When the message becomes visible again under this handle (epoch ms).
    pub fn expires_at(&self) -> i64 {
        self.info.pop_time.saturating_add(self.info.invisible_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::pop::RetryFlag;

    #[test]
    fn a_handle_reads_back() {
        let info = ExtraInfo {
            ck_queue_offset: 5,
            pop_time: 1_700_000_000_000,
            invisible_time: 60_000,
            revive_qid: 0,
            retry: RetryFlag::V1,
            broker_name: "broker-a".into(),
            queue_id: 3,
            queue_offset: Some(7),
        };
        let h = Handle { info, commit_log_offset: Some(123_456) };
        assert_eq!(h.encode(), "5 1700000000000 60000 0 1 broker-a 3 7 123456");
        assert_eq!(Handle::parse(&h.encode()), Some(h.clone()));
        assert_eq!(h.expires_at(), 1_700_000_060_000);
        for bad in ["", "x", "5 1 2 0 0 b 3", "5 1 2 0 0 b 3 7 x", "5 1 2 0 0 b 3 7 8 9"] {
            assert_eq!(Handle::parse(bad), None, "{bad}");
        }
    }
}
