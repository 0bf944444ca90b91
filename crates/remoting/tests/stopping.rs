//! A stopping server closes every connection, including one whose setup finishes after the
//! stop began (its setup runs on its own task, and a TLS handshake can take a while).

use std::sync::Arc;
use std::time::Duration;

use protocol::RemotingCommand;
use remoting::{Acceptor, BoxFuture, Channel, ChannelConfig, Connections, Handler, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

struct Echo;

impl Handler for Echo {
    fn handle(&self, _channel: Arc<Channel>, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>> {
        Box::pin(async move { Some(RemotingCommand::response_to(&request, 0)) })
    }
}

/// Sets a connection up only when a permit is given: a handshake that ends late.
struct HeldSetup(Arc<Semaphore>);

impl Acceptor for HeldSetup {
    fn accept(&self, stream: TcpStream, handler: Arc<dyn Handler>, config: ChannelConfig) -> BoxFuture<std::io::Result<Arc<Channel>>> {
        let gate = self.0.clone();
        Box::pin(async move {
            gate.acquire().await.map_err(std::io::Error::other)?.forget();
            Channel::spawn(stream, handler, config)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_set_up_after_the_stop_began_is_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let gate = Arc::new(Semaphore::new(0));
    let connections = Arc::new(Connections::default());
    let serving = tokio::spawn(remoting::serve_with(listener, Arc::new(HeldSetup(gate.clone())), Arc::new(Echo), ServerConfig::default(), connections.clone()));
    let connect = || remoting::connect(&addr, Arc::new(Echo), ChannelConfig::default(), Duration::from_secs(5));

    // Set up before the stop: served, and counted.
    let early = connect().await.unwrap();
    gate.add_permits(1);
    early.invoke(RemotingCommand::request(1), Duration::from_secs(5)).await.expect("served");
    assert_eq!(connections.len(), 1);

    // Accepted before the stop, set up after it: closed, never served.
    let late = connect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(connections.len(), 1, "the late one is not set up yet");
    connections.close_all();
    tokio::time::timeout(Duration::from_secs(10), early.closed()).await.expect("the early one is closed");
    gate.add_permits(1);
    tokio::time::timeout(Duration::from_secs(10), late.closed()).await.expect("the late one is closed too");
    assert!(late.invoke(RemotingCommand::request(1), Duration::from_secs(1)).await.is_err());
    assert_eq!(connections.len(), 0);
    serving.abort();
}
