//! A client of `rocketry controller` nodes: a request goes to the leader, remembered from the
//! last answer or found by asking each node in turn and following a follower's NOT_LEADER
//! (which names the leader when it knows it).

use std::sync::Arc;
use std::time::Duration;

use protocol::controller::status;
use protocol::RemotingCommand;

use crate::pool::{ConnectionPool, IgnoreRequests};

pub struct Controllers {
    pool: ConnectionPool,
    addrs: Vec<String>,
    leader: Option<String>,
}

/// How long one node is given to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(3);

impl Controllers {
    /// `addrs`: `host:port;host:port`.
    pub fn new(addrs: &str, tls: Option<remoting::tls::ClientTls>) -> Controllers {
        let mut pool = ConnectionPool::new(Arc::new(IgnoreRequests));
        pool.set_tls(tls);
        let addrs = addrs.split(';').map(str::trim).filter(|a| !a.is_empty()).map(str::to_string).collect();
        Controllers { pool, addrs, leader: None }
    }

    /// The leader's answer (whatever its code), or why no node gave one.
    pub async fn ask(&mut self, code: i32, body: Vec<u8>) -> Result<RemotingCommand, String> {
        let mut order: Vec<String> = self.leader.iter().cloned().collect();
        order.extend(self.addrs.iter().filter(|a| Some(*a) != self.leader.as_ref()).cloned());
        let mut last = "no controller address given".to_string();
        for addr in order {
            let cmd = RemotingCommand::request(code).with_body(body.clone());
            match self.pool.invoke(&addr, cmd, ASK_TIMEOUT).await {
                Ok(resp) if resp.code == status::NOT_LEADER => {
                    last = format!("{addr} is not the controllers' leader");
                    if let Some(leader) = resp.ext_fields.get("leaderAddr").filter(|l| !l.is_empty()).map(str::to_string) {
                        self.leader = Some(leader.clone());
                        let cmd = RemotingCommand::request(code).with_body(body.clone());
                        if let Ok(resp) = self.pool.invoke(&leader, cmd, ASK_TIMEOUT).await {
                            if resp.code != status::NOT_LEADER {
                                return Ok(resp);
                            }
                        }
                    }
                }
                Ok(resp) => {
                    self.leader = Some(addr);
                    return Ok(resp);
                }
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        self.leader = None;
        Err(last)
    }
}
