//! Queue assignment by the broker (QUERY_ASSIGNMENT, what a Java 5 push consumer built with
//! `setClientRebalance(false)` asks) and each group's consume mode per topic
//! (SET_MESSAGE_REQUEST_MODE, mqadmin `setConsumeMode`), as the Java broker's
//! `QueryAssignmentProcessor`: a POP group gets "any queue" of each broker; a PULL group
//! gets its share by the client's strategy (AVG or AVG_BY_CIRCLE) over the topic's queues on
//! every broker of its route.

use std::time::Duration;

use protocol::codes::{perm, response as rs};
use protocol::pop::{AssignedQueue, MessageQueueAssignment, QueryAssignmentRequestBody, SetMessageRequestModeRequestBody, ANY_QUEUE, RETRY_PREFIX};

use crate::error::{BrokerError, BrokerResult};
use crate::Broker;

pub const MODE_PULL: &str = "PULL";
pub const MODE_POP: &str = "POP";
/// How long a route lookup at the NameServers may take before this broker's own queues are used.
const ROUTE_TIMEOUT: Duration = Duration::from_secs(3);

impl Broker {
    /// QUERY_ASSIGNMENT. `None` when there is nothing to say (unknown topic, no such client,
    /// an unknown strategy): the Java broker's `{}`, which the client takes as "no change".
    pub async fn query_assignment(&self, q: &QueryAssignmentRequestBody) -> BrokerResult<Option<Vec<MessageQueueAssignment>>> {
        let (mode, share) = match self.pop.modes.get(&q.topic, &q.consumer_group) {
            Some(m) => (m.mode, m.pop_share_queue_num),
            None if q.topic.starts_with(RETRY_PREFIX) => (MODE_PULL.to_string(), 0),
            None => (self.config.default_message_request_mode.clone(), -1),
        };
        let Some(mut all) = self.route_queues(&q.topic).await else { return Ok(None) };
        all.sort();
        let assign =
            |queues: Vec<AssignedQueue>| Some(queues.into_iter().map(|message_queue| MessageQueueAssignment { message_queue, mode: mode.clone() }).collect());
        if q.message_model == "BROADCASTING" {
            return Ok(assign(all));
        }
        let mut cids = self.clients.consumer_ids(&q.consumer_group);
        cids.sort();
        if cids.is_empty() || all.is_empty() {
            return Ok(None);
        }
        let Some(strategy) = Strategy::named(&q.strategy_name) else { return Ok(None) };
        if mode != MODE_POP {
            return Ok(assign(strategy.allocate(&q.client_id, &all, &cids)));
        }
        if share <= 0 || share as usize >= cids.len().saturating_sub(1) {
            let mut brokers: Vec<AssignedQueue> = all.iter().map(|mq| AssignedQueue { queue_id: ANY_QUEUE, ..mq.clone() }).collect();
            brokers.dedup();
            return Ok(assign(brokers));
        }
        let Some(index) = cids.iter().position(|c| *c == q.client_id) else { return Ok(assign(Vec::new())) };
        if cids.len() > all.len() {
            return Ok(assign(vec![all[index % all.len()].clone()]));
        }
        let mut mine: Vec<AssignedQueue> = Vec::new();
        for i in 0..=share as usize {
            for mq in strategy.allocate(&cids[(index + i) % cids.len()], &all, &cids) {
                if !mine.contains(&mq) {
                    mine.push(mq);
                }
            }
        }
        Ok(assign(mine))
    }

    /// The readable queues of a topic on every broker of its route; this broker's own when
    /// no NameServer answers.
    async fn route_queues(&self, topic: &str) -> Option<Vec<AssignedQueue>> {
        let local = || {
            let t = self.topics.get(topic)?;
            Some(
                (0..t.read_queue_nums)
                    .map(|queue_id| AssignedQueue { broker_name: self.config.broker_name.clone(), queue_id, topic: topic.to_string() })
                    .collect(),
            )
        };
        let Some(client) = self.namesrv_client() else { return local() };
        match tokio::time::timeout(ROUTE_TIMEOUT, client.route(topic)).await {
            Ok(Ok(route)) => Some(
                route
                    .queue_datas
                    .iter()
                    .filter(|q| q.perm & perm::READ != 0)
                    .flat_map(|q| {
                        (0..q.read_queue_nums).map(|queue_id| AssignedQueue { broker_name: q.broker_name.clone(), queue_id, topic: topic.to_string() })
                    })
                    .collect(),
            ),
            _ => local(),
        }
    }

    /// SET_MESSAGE_REQUEST_MODE.
    pub fn set_message_request_mode(&self, m: &SetMessageRequestModeRequestBody) -> BrokerResult<()> {
        if m.topic.starts_with(RETRY_PREFIX) {
            return Err(BrokerError::no_permission("retry topic is not allowed to set mode"));
        }
        if self.topics.get(&m.topic).is_none() {
            return Err(BrokerError::new(rs::TOPIC_NOT_EXIST, format!("topic[{}] not exist", m.topic)));
        }
        if self.groups.find_or_create(&m.consumer_group).is_none() {
            return Err(BrokerError::new(rs::SUBSCRIPTION_GROUP_NOT_EXIST, "subscription group does not exist"));
        }
        if m.mode != MODE_PULL && m.mode != MODE_POP {
            return Err(BrokerError::invalid(format!("mode `{}` is neither PULL nor POP", m.mode)));
        }
        self.pop.modes.set(m.clone());
        Ok(())
    }
}

/// The client's allocation strategies the Java broker knows, by name.
enum Strategy {
    Averagely,
    ByCircle,
}

impl Strategy {
    fn named(name: &str) -> Option<Strategy> {
        match name {
            "AVG" => Some(Strategy::Averagely),
            "AVG_BY_CIRCLE" => Some(Strategy::ByCircle),
            _ => None,
        }
    }

    /// `cid`'s queues of `all` (sorted) among `cids` (sorted); none if `cid` is not among them.
    fn allocate(&self, cid: &str, all: &[AssignedQueue], cids: &[String]) -> Vec<AssignedQueue> {
        let Some(index) = cids.iter().position(|c| c == cid) else { return Vec::new() };
        let (n, c) = (all.len(), cids.len());
        match self {
            Strategy::Averagely => {
                let rem = n % c;
                let size = if n <= c {
                    1
                } else if rem > 0 && index < rem {
                    n / c + 1
                } else {
                    n / c
                };
                let start = if rem > 0 && index < rem { index * size } else { index * size + rem };
                let range = size.min(n.saturating_sub(start));
                (0..range).map(|i| all[(start + i) % n].clone()).collect()
            }
            Strategy::ByCircle => (index..n).step_by(c).map(|i| all[i].clone()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(n: i32) -> Vec<AssignedQueue> {
        (0..n).map(|queue_id| AssignedQueue { broker_name: "b".into(), queue_id, topic: "t".into() }).collect()
    }

    fn ids(q: &[AssignedQueue]) -> Vec<i32> {
        q.iter().map(|m| m.queue_id).collect()
    }

    #[test]
    fn strategies_allocate_as_the_java_client() {
        let cids: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        let all = queues(8);
        assert_eq!(ids(&Strategy::Averagely.allocate("a", &all, &cids)), vec![0, 1, 2]);
        assert_eq!(ids(&Strategy::Averagely.allocate("b", &all, &cids)), vec![3, 4, 5]);
        assert_eq!(ids(&Strategy::Averagely.allocate("c", &all, &cids)), vec![6, 7]);
        assert_eq!(ids(&Strategy::ByCircle.allocate("b", &all, &cids)), vec![1, 4, 7]);
        assert!(Strategy::Averagely.allocate("z", &all, &cids).is_empty());
        let two = queues(2);
        assert_eq!(ids(&Strategy::Averagely.allocate("c", &two, &cids)), Vec::<i32>::new(), "more clients than queues");
    }
}
