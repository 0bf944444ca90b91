//! `rocketry bench sink`: the loopback ceiling. It reads frames and answers every send with
//! SUCCESS, on the same transport as the broker, and stores nothing, so `bench produce
//! --broker <sink>` shows how fast this machine moves requests without a broker's work.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use clap::Args;
use protocol::codes::{request, response};
use protocol::header::SendMessageResponseHeader;
use protocol::RemotingCommand;
use remoting::{BoxFuture, Channel, Handler};

#[derive(Args)]
pub struct SinkArgs {
    /// Loopback port to listen on.
    #[arg(short, long, default_value_t = 10911)]
    port: u16,
}

struct Sink {
    offset: AtomicI64,
}

impl Handler for Sink {
    fn handle(&self, _channel: Arc<Channel>, req: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        let answer = match req.code {
            request::SEND_MESSAGE | request::SEND_MESSAGE_V2 | request::SEND_BATCH_MESSAGE => {
                let queue_id = req.ext_fields.get("queueId").or_else(|| req.ext_fields.get("e")).and_then(|q| q.parse().ok()).unwrap_or(0);
                let mut resp = RemotingCommand::response_to(&req, response::SUCCESS);
                let h = SendMessageResponseHeader {
                    msg_id: String::new(),
                    queue_id,
                    queue_offset: self.offset.fetch_add(1, Ordering::Relaxed),
                    transaction_id: None,
                    recall_handle: None,
                };
                h.encode(&mut resp.ext_fields, "DefaultRegion", false);
                resp
            }
            code => {
                let mut resp = RemotingCommand::response_to(&req, response::REQUEST_CODE_NOT_SUPPORTED);
                resp.remark = Some(format!("the sink answers sends only, not request code {code}"));
                resp
            }
        };
        let answer = (!req.is_oneway()).then_some(answer);
        Box::pin(async move { answer })
    }
}

pub async fn run(args: SinkArgs) -> Result<(), crate::Error> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    eprintln!("bench sink listening on {}", listener.local_addr()?);
    let connections = Arc::new(remoting::Connections::default());
    tokio::select! {
        _ = remoting::serve(listener, Arc::new(Sink { offset: AtomicI64::new(0) }), remoting::ServerConfig::default(), connections) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
