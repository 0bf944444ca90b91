//! A replica's copy of its master's state that does not live in the CommitLog: topics and
//! subscription groups (whole tables, taken when their data version differs), consumer
//! offsets (the master's over the replica's, as Java's `putAll`) and delay-level progress,
//! every `slaveSynchronizeIntervalMs` from the master's remoting address the NameServer gave
//! (Java's `SlaveSynchronize`, which copies every 60 s).

use std::sync::Arc;
use std::time::Duration;

use protocol::body::{self, SubscriptionGroupWrapper, TopicConfigSerializeWrapper};
use protocol::codes::request as rq;
use protocol::RemotingCommand;

use crate::Broker;

/// Copies the master's state until the broker stops (while it is a replica).
pub async fn run(b: Arc<Broker>) {
    let mut tick = tokio::time::interval(Duration::from_millis(b.config.slave_synchronize_interval_ms.max(100)));
    let mut client: Option<(String, client::Client)> = None;
    let mut last_error: Option<String> = None;
    loop {
        tick.tick().await;
        if b.runtime.role().is_master() {
            continue;
        }
        let Some(master) = b.ha.master_addr().filter(|m| *m != b.config.broker_addr()) else { continue };
        if client.as_ref().is_none_or(|(addr, _)| *addr != master) {
            client = Some((master.clone(), b.inner_client(vec![master.clone()])));
        }
        let Some((_, c)) = &client else { continue };
        match copy(&b, c, &master).await {
            Ok(()) => last_error = None,
            Err(e) => {
                if last_error.as_deref() != Some(e.as_str()) {
                    tracing::warn!(%master, error = %e, "copying the master's topics, groups and offsets failed; trying again");
                }
                last_error = Some(e);
            }
        }
    }
}

async fn fetch(c: &client::Client, master: &str, code: i32) -> Result<bytes::Bytes, String> {
    let resp =
        c.invoke_ok(master, RemotingCommand::request(code)).await.map_err(|e| format!("{}: {e}", protocol::code_names::request(code).unwrap_or("request")))?;
    Ok(resp.body)
}

/// One round: each table in turn; the first failure ends the round.
pub(crate) async fn copy(b: &Broker, c: &client::Client, master: &str) -> Result<(), String> {
    let topics: TopicConfigSerializeWrapper = body::decode(&fetch(c, master, rq::GET_ALL_TOPIC_CONFIG).await?).map_err(|e| e.to_string())?;
    if let Some(gone) = b.topics.replace_all(topics) {
        tracing::info!(%master, "took the master's topics");
        // Topics the master deleted: their queues and offsets go here too (its own topics,
        // made at start, are the master's as well).
        for topic in gone.iter().filter(|t| !b.is_system_topic(t)) {
            tracing::info!(%master, topic, "the master deleted the topic: its queues and offsets are dropped");
            b.drop_topic_data(topic).await.map_err(|e| format!("deleting topic {topic}: {e}"))?;
        }
    }
    let groups: SubscriptionGroupWrapper = body::decode(&fetch(c, master, rq::GET_ALL_SUBSCRIPTIONGROUP_CONFIG).await?).map_err(|e| e.to_string())?;
    if b.groups.replace_all(groups) {
        tracing::info!(%master, "took the master's subscription groups");
    }
    b.offsets.merge_json(&fetch(c, master, rq::GET_ALL_CONSUMER_OFFSET).await?)?;
    crate::schedule::take_master_progress(b, &fetch(c, master, rq::GET_ALL_DELAY_OFFSET).await?)?;
    Ok(())
}
