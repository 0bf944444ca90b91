//! [`Channel`]: one connection, either direction. A reader task cuts frames and hands
//! requests to the [`Handler`] (each in its own task) and responses to waiting invokers; a
//! writer task gathers queued frames into vectored writes. Runs over any stream
//! ([`Channel::spawn_io`]); limits in [`ChannelConfig`].

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::metrics::{Answered, RpcResult};
use bytes::{Bytes, BytesMut};
use protocol::codes::flag;
use protocol::frame::take_frame;
use protocol::RemotingCommand;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

#[derive(Debug, Error)]
pub enum RemotingError {
    #[error("connect to {addr} failed: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("connection to {0} is closed")]
    Closed(SocketAddr),
    #[error("request to {addr} timed out after {timeout_ms} ms")]
    Timeout { addr: SocketAddr, timeout_ms: u128 },
}

/// The read side of a connection's stream: TCP, TLS, or anything else that reads bytes.
pub trait StreamRead: AsyncRead + Unpin + Send + 'static {
    /// Waits until a read would find bytes (or the end of the stream), without holding a
    /// buffer, so an idle connection costs no read buffer. Spurious wake-ups are fine. A
    /// stream that cannot tell returns at once, and the read then waits with its buffer.
    fn ready(&mut self) -> impl Future<Output = std::io::Result<()>> + Send {
        std::future::ready(Ok(()))
    }
}

impl StreamRead for OwnedReadHalf {
    fn ready(&mut self) -> impl Future<Output = std::io::Result<()>> + Send {
        self.readable()
    }
}

/// Any other stream, split with `tokio::io::split` (a TLS stream, an in-memory pipe).
impl<S: AsyncRead + Send + 'static> StreamRead for tokio::io::ReadHalf<S> {}

/// Serves the requests a peer sends on a channel.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request. `None` sends nothing (and must be the answer to a oneway
    /// request); a response's opaque is set by the channel.
    fn handle(&self, channel: Arc<Channel>, request: RemotingCommand) -> BoxFuture<Option<RemotingCommand>>;

    /// Called once when the connection closes, for whatever reason.
    fn on_close(&self, _channel: &Arc<Channel>) {}

    /// Called after each request's answer is written (or could not be), with how long it
    /// took from its decoding, when [`Handler::counts_answers`]: where metrics count requests
    /// (the clock is read only for a handler that counts).
    fn answered(&self, _answered: &crate::metrics::Answered) {}

    /// Whether [`Handler::answered`] is wanted.
    fn counts_answers(&self) -> bool {
        false
    }
}

tokio::task_local! {
    /// Set while a request's task runs: whether the request was parked (long polling).
    static PARKED: std::cell::Cell<bool>;
}

/// Limits of one connection.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub frame_max_bytes: usize,
    /// Frames waiting to be written; a full queue makes senders wait, so a peer that
    /// never reads cannot grow our memory.
    pub write_queue_frames: usize,
    /// Bytes waiting to be written, likewise (a frame larger than this waits for an empty queue).
    pub write_queue_bytes: usize,
    /// A connection with no incoming bytes for this long is closed (0 = never).
    pub idle_timeout: Duration,
    /// Requests from the peer being handled at once (parked pulls included). At the limit the
    /// connection stops reading until one finishes, so a peer that sends without reading its
    /// answers cannot grow our memory.
    pub max_inflight_requests: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            frame_max_bytes: protocol::frame::DEFAULT_FRAME_MAX_BYTES,
            write_queue_frames: 4096,
            write_queue_bytes: 64 * 1024 * 1024,
            idle_timeout: Duration::from_secs(120),
            max_inflight_requests: 16_384,
        }
    }
}

/// One TCP connection, either direction.
pub struct Channel {
    id: u64,
    peer: SocketAddr,
    local: SocketAddr,
    writer: mpsc::Sender<Frame>,
    /// Byte budget of the write queue: taken by `send`, given back once written.
    write_budget: Arc<Semaphore>,
    write_budget_max: usize,
    /// Our requests waiting for the peer's response, by opaque. A std mutex: it is
    /// never held across an await.
    pending: Mutex<HashMap<i32, oneshot::Sender<RemotingCommand>>>,
    next_opaque: AtomicI32,
    closed: AtomicBool,
    closed_notify: Notify,
    /// Set by `finish`: write what is queued, then end our side (FIN) and take no new requests.
    finishing: AtomicBool,
    /// Wakes the writer to check whether it may end the connection (see `finish`).
    finishing_notify: Notify,
    /// Requests from the peer being handled, not counting those parked (long polls): a
    /// finishing channel ends only once these have queued their answers.
    busy: AtomicUsize,
    /// Requests from the peer being handled, parked ones included, against
    /// `max_inflight_requests`; the reader waits on `inflight_freed` at the limit. (A counter,
    /// not a semaphore: releasing a semaphore permit takes a lock, for every request.)
    inflight: AtomicUsize,
    inflight_freed: Notify,
    max_inflight: usize,
    /// Bytes the reader's buffer holds when it last looked (0 while a quiet connection waits).
    read_buffer_bytes: AtomicUsize,
}

/// The two ends of a connection, as the channel reports them.
#[derive(Debug, Clone, Copy)]
pub struct Addrs {
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

static NEXT_CHANNEL_ID: AtomicU64 = AtomicU64::new(1);

/// A connection id unique in this process, shared by every front end (remoting channels and
/// gRPC streams), so the broker's client registry can key clients by it.
pub fn next_conn_id() -> u64 {
    NEXT_CHANNEL_ID.fetch_add(1, Ordering::Relaxed)
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Channel#{}({})", self.id, self.peer)
    }
}

impl Channel {
    /// Starts the reader and writer tasks of a connected TCP stream.
    pub fn spawn(stream: TcpStream, handler: Arc<dyn Handler>, config: ChannelConfig) -> std::io::Result<Arc<Channel>> {
        let peer = stream.peer_addr()?;
        let local = stream.local_addr()?;
        stream.set_nodelay(true)?;
        let (read_half, write_half) = stream.into_split();
        Ok(Channel::spawn_io(read_half, write_half, Addrs { peer, local }, handler, config))
    }

    /// Starts the reader and writer tasks over any stream's two halves (TLS over TCP, or an
    /// in-memory pipe in tests).
    pub fn spawn_io<R: StreamRead, W: AsyncWrite + Unpin + Send + 'static>(
        read_half: R,
        write_half: W,
        addrs: Addrs,
        handler: Arc<dyn Handler>,
        config: ChannelConfig,
    ) -> Arc<Channel> {
        let Addrs { peer, local } = addrs;
        let (tx, rx) = mpsc::channel(config.write_queue_frames.max(1));
        let channel = Arc::new(Channel {
            id: next_conn_id(),
            peer,
            local,
            writer: tx,
            write_budget: Arc::new(Semaphore::new(config.write_queue_bytes.max(1))),
            write_budget_max: config.write_queue_bytes.max(1),
            pending: Mutex::new(HashMap::new()),
            next_opaque: AtomicI32::new(1),
            closed: AtomicBool::new(false),
            closed_notify: Notify::new(),
            finishing: AtomicBool::new(false),
            finishing_notify: Notify::new(),
            busy: AtomicUsize::new(0),
            inflight: AtomicUsize::new(0),
            inflight_freed: Notify::new(),
            max_inflight: config.max_inflight_requests.max(1),
            read_buffer_bytes: AtomicUsize::new(0),
        });
        tokio::spawn(write_loop(channel.clone(), write_half, rx));
        tokio::spawn(read_loop(channel.clone(), read_half, handler, config));
        channel
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The capacity of the reader's buffer as it waits for bytes: what an idle connection
    /// keeps (0 once it gives the buffer back).
    pub fn read_buffer_bytes(&self) -> usize {
        self.read_buffer_bytes.load(Ordering::Relaxed)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queues an encoded frame; waits while the write queue is full.
    pub async fn send(&self, cmd: &RemotingCommand) -> Result<(), RemotingError> {
        if self.is_closed() {
            return Err(RemotingError::Closed(self.peer));
        }
        let frame = Frame::encode(cmd);
        let cost = frame.len().min(self.write_budget_max) as u32;
        let permit = match self.write_budget.try_acquire_many(cost) {
            Ok(p) => p,
            Err(_) => tokio::select! {
                p = self.write_budget.acquire_many(cost) => p.map_err(|_| RemotingError::Closed(self.peer))?,
                _ = self.closed() => return Err(RemotingError::Closed(self.peer)),
            },
        };
        // Given back by the writer once the frame is on the socket.
        permit.forget();
        self.writer.send(frame).await.map_err(|_| RemotingError::Closed(self.peer))
    }

    /// Sends a request and waits for the matching response.
    pub async fn invoke(&self, mut cmd: RemotingCommand, timeout: Duration) -> Result<RemotingCommand, RemotingError> {
        cmd.opaque = self.next_opaque.fetch_add(1, Ordering::Relaxed);
        cmd.flag &= !flag::RESPONSE;
        let (tx, rx) = oneshot::channel();
        self.lock_pending().insert(cmd.opaque, tx);
        let opaque = cmd.opaque;
        let result = async {
            self.send(&cmd).await?;
            rx.await.map_err(|_| RemotingError::Closed(self.peer))
        };
        match tokio::time::timeout(timeout, result).await {
            Ok(r) => {
                if r.is_err() {
                    self.lock_pending().remove(&opaque);
                }
                r
            }
            Err(_) => {
                self.lock_pending().remove(&opaque);
                Err(RemotingError::Timeout { addr: self.peer, timeout_ms: timeout.as_millis() })
            }
        }
    }

    /// Sends a request that expects no response.
    pub async fn oneway(&self, mut cmd: RemotingCommand) -> Result<(), RemotingError> {
        cmd.opaque = self.next_opaque.fetch_add(1, Ordering::Relaxed);
        cmd.flag = (cmd.flag | flag::ONEWAY) & !flag::RESPONSE;
        self.send(&cmd).await
    }

    /// Closes the connection; pending invocations fail.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.closed_notify.notify_waiters();
        }
        self.lock_pending().clear();
    }

    /// Ends the connection gently: requests being handled finish and queue their answers
    /// (parked long polls excepted), what is queued is written, then our side is shut (FIN),
    /// and requests still arriving are read and dropped until the peer closes (or `close`).
    /// Closing at once instead could reset the connection (RST, because of unread requests)
    /// and make the peer lose answers already sent.
    pub fn finish(&self) {
        if !self.finishing.swap(true, Ordering::AcqRel) {
            self.finishing_notify.notify_one();
        }
    }

    fn is_finishing(&self) -> bool {
        self.finishing.load(Ordering::Acquire)
    }

    /// While the returned guard lives, the request being handled does not hold up `finish`:
    /// for a long poll that waits for messages that may never come.
    pub fn parked(&self) -> Parked<'_> {
        let _ = PARKED.try_with(|p| p.set(true));
        self.request_done();
        Parked(self)
    }

    /// A request's answer is queued (or it has none).
    fn request_done(&self) {
        // Saturating: a handler called outside `dispatch` must not wrap the count.
        let before = self.busy.fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| b.checked_sub(1));
        if before == Ok(1) && self.is_finishing() {
            self.finishing_notify.notify_one();
        }
    }

    /// Finishing, nothing being handled: the writer may end our side once its queue is empty.
    fn quiet(&self) -> bool {
        self.is_finishing() && self.busy.load(Ordering::Acquire) == 0
    }

    /// Resolves once the channel is closed.
    pub async fn closed(&self) {
        let notified = self.closed_notify.notified();
        tokio::pin!(notified);
        // Register before checking the flag, so a close in between is not missed.
        notified.as_mut().enable();
        if self.is_closed() {
            return;
        }
        notified.await;
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<i32, oneshot::Sender<RemotingCommand>>> {
        // A poisoned map only means another task panicked mid-insert; the map is still usable.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// See `Channel::parked`.
pub struct Parked<'a>(&'a Channel);

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_add(1, Ordering::AcqRel);
    }
}

/// Connects to `addr` and serves the peer's requests with `handler`.
pub async fn connect(addr: &str, handler: Arc<dyn Handler>, config: ChannelConfig, timeout: Duration) -> Result<Arc<Channel>, RemotingError> {
    connect_with(addr, handler, config, timeout, None).await
}

/// [`connect`], over TLS when `tls` is given (the handshake has its own time limit).
pub async fn connect_with(
    addr: &str,
    handler: Arc<dyn Handler>,
    config: ChannelConfig,
    timeout: Duration,
    tls: Option<&crate::tls::ClientTls>,
) -> Result<Arc<Channel>, RemotingError> {
    let err = |source| RemotingError::Connect { addr: addr.to_string(), source };
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| err(std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")))?
        .map_err(err)?;
    match tls {
        Some(tls) => tls.handshake(addr, stream, handler, config).await,
        None => Channel::spawn(stream, handler, config).map_err(err),
    }
}

/// Most bytes gathered into one write.
const WRITE_BATCH_BYTES: usize = 256 * 1024;
/// The gather buffer a burst of small frames starts with (it grows for a larger burst).
const GATHER_BYTES: usize = 16 * 1024;
/// Bodies up to this size are copied next to their header; larger ones (pull answers) go to
/// the socket from where they are, as their own slice of a vectored write.
const COPY_BODY_BELOW: usize = 8 * 1024;
/// Slices given to one vectored write at most.
const MAX_WRITE_SLICES: usize = 64;

/// An encoded command waiting to be written: the head (length words and header) and the body.
struct Frame {
    head: Bytes,
    body: Bytes,
}

impl Frame {
    fn encode(cmd: &RemotingCommand) -> Frame {
        let small = cmd.body.len() < COPY_BODY_BELOW;
        let mut head = BytesMut::with_capacity(256 + if small { cmd.body.len() } else { 0 });
        if small {
            cmd.encode(&mut head);
            Frame { head: head.freeze(), body: Bytes::new() }
        } else {
            cmd.encode_head(&mut head);
            Frame { head: head.freeze(), body: cmd.body.clone() }
        }
    }

    fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }
}

/// What one write will send: small pieces gathered into one buffer, large bodies as they are.
#[derive(Default)]
struct WriteBatch {
    gathered: BytesMut,
    chunks: std::collections::VecDeque<Bytes>,
    bytes: usize,
}

impl WriteBatch {
    fn push(&mut self, frame: Frame) {
        if self.gathered.capacity() - self.gathered.len() < frame.head.len() {
            // Room for a burst's small frames at once (the buffer is given back when idle).
            self.gathered.reserve(GATHER_BYTES.max(frame.head.len()));
        }
        self.bytes += frame.len();
        self.gathered.extend_from_slice(&frame.head);
        if !frame.body.is_empty() {
            self.chunks.push_back(self.gathered.split().freeze());
            self.chunks.push_back(frame.body);
        }
    }

    /// Writes everything, with as few vectored writes as the socket allows.
    async fn write_to<W: AsyncWrite + Unpin>(&mut self, sink: &mut W) -> std::io::Result<()> {
        if !self.gathered.is_empty() {
            self.chunks.push_back(self.gathered.split().freeze());
        }
        while !self.chunks.is_empty() {
            let mut slices = [std::io::IoSlice::new(&[]); MAX_WRITE_SLICES];
            let mut count = 0;
            for (slot, chunk) in slices.iter_mut().zip(&self.chunks) {
                *slot = std::io::IoSlice::new(chunk);
                count += 1;
            }
            let mut n = sink.write_vectored(&slices[..count]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            while n > 0 {
                let Some(front) = self.chunks.front_mut() else { break };
                if n >= front.len() {
                    n -= front.len();
                    self.chunks.pop_front();
                } else {
                    bytes::Buf::advance(front, n);
                    n = 0;
                }
            }
        }
        self.bytes = 0;
        Ok(())
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(channel: Arc<Channel>, mut sink: W, mut rx: mpsc::Receiver<Frame>) {
    let mut out = WriteBatch::default();
    loop {
        if rx.is_empty() && out.gathered.capacity() > 0 {
            // Nothing to write: an idle connection keeps no gather buffer.
            out.gathered = BytesMut::new();
        }
        if rx.is_empty() && channel.quiet() {
            // Finishing, every answer written: end our side, keep the socket for the reader.
            let _ = sink.shutdown().await;
            channel.closed().await;
            return;
        }
        let first = tokio::select! {
            frame = rx.recv() => frame,
            _ = channel.closed() => None,
            // `finish` was called, or the last request being handled queued its answer.
            _ = channel.finishing_notify.notified() => continue,
        };
        let Some(first) = first else { break };
        if rx.is_empty() {
            // Answers come in bursts (a store batch completes many puts at once), and the
            // task that queues the first one wakes us straight away, before the others have
            // run: let them run and queue theirs, so one write carries the burst instead of a
            // write per answer. A yield waits for no timer, only for tasks already runnable.
            tokio::task::yield_now().await;
        }
        // Gather what is already queued into one write; never wait for more. `cost` is the
        // write budget the gathered frames took (each capped as in `send`).
        let mut cost = first.len().min(channel.write_budget_max);
        out.push(first);
        while out.bytes < WRITE_BATCH_BYTES {
            match rx.try_recv() {
                Ok(frame) => {
                    cost += frame.len().min(channel.write_budget_max);
                    out.push(frame);
                }
                Err(_) => break,
            }
        }
        if let Err(e) = out.write_to(&mut sink).await {
            tracing::debug!(peer = %channel.peer, error = %e, "write failed; closing");
            break;
        }
        channel.write_budget.add_permits(cost);
    }
    channel.close();
    let _ = sink.shutdown().await;
}

/// Bytes one read asks for: it starts small and grows while reads come back full.
const READ_MIN_BYTES: usize = 16 * 1024;
const READ_MAX_BYTES: usize = 256 * 1024;

async fn read_loop<R: StreamRead>(channel: Arc<Channel>, mut source: R, handler: Arc<dyn Handler>, config: ChannelConfig) {
    let mut read_size = READ_MIN_BYTES;
    // No buffer until bytes arrive: an idle connection holds none (see below).
    let mut buf = BytesMut::new();
    let max_inflight = channel.max_inflight;
    // One idle timer and one close watch for the connection's life, not one per read: a
    // read only notes when it happened, and the timer, when it fires, checks that.
    let idle_timeout = config.idle_timeout;
    let mut last_read = tokio::time::Instant::now();
    // Set by the idle timer: the peer has been quiet for `SHRINK_AFTER` with a grown buffer.
    let mut shrink_due = false;
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(idle);
    let closed = channel.closed();
    tokio::pin!(closed);
    let reason = loop {
        match take_frame(&mut buf, config.frame_max_bytes) {
            Ok(Some(frame)) => {
                let cmd = match RemotingCommand::decode(frame) {
                    Ok(cmd) => cmd,
                    Err(e) => break format!("undecodable command: {e}"),
                };
                if cmd.is_response() {
                    complete(&channel, cmd);
                    continue;
                }
                if channel.is_finishing() {
                    continue; // no new work once finishing; read on until the peer closes
                }
                // Only this loop adds to `inflight`, so room seen here is still there below.
                while channel.inflight.load(Ordering::Acquire) >= max_inflight {
                    let freed = channel.inflight_freed.notified();
                    tokio::pin!(freed);
                    // Register before looking again, so a release in between is not missed.
                    freed.as_mut().enable();
                    if channel.inflight.load(Ordering::Acquire) < max_inflight {
                        break;
                    }
                    tokio::select! {
                        _ = freed => {}
                        _ = &mut closed => break,
                    }
                }
                if channel.is_closed() {
                    break "closed locally".to_string();
                }
                dispatch(&channel, &handler, cmd);
                continue;
            }
            Ok(None) => {}
            Err(e) => break format!("bad frame: {e}"),
        }
        if shrink_due && buf.is_empty() {
            // Quiet for `SHRINK_AFTER` after its reads had grown: back to the smallest reads,
            // and below, no buffer while it stays quiet.
            shrink_due = false;
            read_size = READ_MIN_BYTES;
        }
        if buf.is_empty() && read_size == READ_MIN_BYTES {
            // Every frame read is taken and the peer is not streaming (its reads stay small).
            // Read on into the buffer if bytes are there already; otherwise give the buffer
            // back and wait for bytes without one, so an idle connection costs no read buffer.
            // (A streaming peer keeps its larger buffer: allocating one of up to 256 KiB for
            // every read cost throughput.)
            if buf.capacity() > 0 {
                match read_now(&mut source, &mut buf).await {
                    Some(Ok(0)) => break "closed by peer".to_string(),
                    Some(Ok(_)) => {
                        last_read = tokio::time::Instant::now();
                        continue;
                    }
                    Some(Err(e)) => break format!("read error: {e}"),
                    None => buf = BytesMut::new(),
                }
            }
            channel.read_buffer_bytes.store(buf.capacity(), Ordering::Relaxed);
            tokio::select! {
                r = source.ready() => if let Err(e) = r { break format!("read error: {e}") },
                _ = &mut closed => break "closed locally".to_string(),
                _ = &mut idle, if !idle_timeout.is_zero() => {
                    if on_idle_timer(idle.as_mut(), last_read, idle_timeout, read_size > READ_MIN_BYTES, &mut shrink_due) {
                        break "idle timeout".to_string();
                    }
                    continue;
                }
            }
        }
        if buf.capacity() - buf.len() < read_size / 4 {
            // Room for a whole read (frames already taken keep the old buffer alive).
            buf.reserve(read_size);
        }
        let room = buf.capacity() - buf.len();
        channel.read_buffer_bytes.store(buf.capacity(), Ordering::Relaxed);
        let result = tokio::select! {
            r = source.read_buf(&mut buf) => Some(r),
            _ = &mut closed => None,
            _ = &mut idle, if !idle_timeout.is_zero() => {
                if on_idle_timer(idle.as_mut(), last_read, idle_timeout, read_size > READ_MIN_BYTES, &mut shrink_due) {
                    break "idle timeout".to_string();
                }
                continue;
            }
        };
        last_read = tokio::time::Instant::now();
        shrink_due = false;
        match result {
            None => break "closed locally".to_string(),
            Some(Ok(0)) => break "closed by peer".to_string(),
            Some(Ok(n)) => {
                // A busy peer fills every read: read more at once (fewer system calls);
                // a quiet one keeps its buffer small.
                if n == room {
                    read_size = (read_size * 2).min(READ_MAX_BYTES);
                    // The idle timer also tells when a grown buffer can be given back.
                    let shrink_at = last_read + SHRINK_AFTER;
                    if !idle_timeout.is_zero() && shrink_at < idle.deadline() {
                        idle.as_mut().reset(shrink_at);
                    }
                } else if n < read_size / 8 {
                    read_size = (read_size / 2).max(READ_MIN_BYTES);
                }
            }
            Some(Err(e)) => break format!("read error: {e}"),
        }
    };
    if reason.starts_with("bad frame") || reason.starts_with("undecodable") {
        tracing::warn!(peer = %channel.peer, "closing connection: {reason}");
    } else {
        tracing::debug!(peer = %channel.peer, "connection closed: {reason}");
    }
    channel.close();
    handler.on_close(&channel);
}

/// A reader whose reads grew (a streaming peer) keeps its larger buffer until the peer has
/// been quiet this long, then gives it back.
const SHRINK_AFTER: Duration = Duration::from_secs(1);

/// The idle timer fired: true when nothing was read for `idle_timeout`. Otherwise the timer
/// is set again (reads only note their time) and, when the reads had `grown` and nothing came
/// for `SHRINK_AFTER`, `shrink_due` is set; while that is still ahead, the timer waits for it.
fn on_idle_timer(idle: Pin<&mut tokio::time::Sleep>, last_read: tokio::time::Instant, idle_timeout: Duration, grown: bool, shrink_due: &mut bool) -> bool {
    let now = tokio::time::Instant::now();
    let expires = last_read + idle_timeout;
    if now >= expires {
        return true;
    }
    let shrink_at = last_read + SHRINK_AFTER;
    if grown && now >= shrink_at {
        *shrink_due = true;
    }
    idle.reset(if grown && now < shrink_at { shrink_at.min(expires) } else { expires });
    false
}

/// Reads what the stream has right now into `buf`'s spare room, without waiting: None when
/// nothing is there. (`read_buf` polled once; dropping it while pending loses nothing.)
async fn read_now<R: AsyncRead + Unpin>(source: &mut R, buf: &mut BytesMut) -> Option<std::io::Result<usize>> {
    let read = source.read_buf(buf);
    tokio::pin!(read);
    std::future::poll_fn(|cx| match read.as_mut().poll(cx) {
        std::task::Poll::Ready(r) => std::task::Poll::Ready(Some(r)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

/// Hands a response to the invoker waiting for its opaque.
fn complete(channel: &Channel, cmd: RemotingCommand) {
    if let Some(tx) = channel.lock_pending().remove(&cmd.opaque) {
        let _ = tx.send(cmd);
    }
}

/// A request being handled (counted in `busy` and `inflight`): done when dropped, after its
/// answer is queued (or the task ends some other way).
struct Handling(Arc<Channel>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.request_done();
        if self.0.inflight.fetch_sub(1, Ordering::AcqRel) >= self.0.max_inflight {
            self.0.inflight_freed.notify_one();
        }
    }
}

/// Handles a request in its own task, counted against the connection's in-flight limit.
fn dispatch(channel: &Arc<Channel>, handler: &Arc<dyn Handler>, cmd: RemotingCommand) {
    let oneway = cmd.is_oneway();
    let opaque = cmd.opaque;
    channel.busy.fetch_add(1, Ordering::AcqRel);
    channel.inflight.fetch_add(1, Ordering::AcqRel);
    let handling = Handling(channel.clone());
    let request_code = cmd.code;
    let started = handler.counts_answers().then(std::time::Instant::now);
    let fut = handler.handle(channel.clone(), cmd);
    let (channel, handler) = (channel.clone(), handler.clone());
    tokio::spawn(PARKED.scope(std::cell::Cell::new(false), async move {
        let _handling = handling;
        let (response_code, result) = match fut.await {
            Some(mut response) if !oneway => {
                response.opaque = opaque;
                response.flag |= flag::RESPONSE;
                let written = channel.send(&response).await;
                (Some(response.code), if written.is_ok() { RpcResult::Success } else { RpcResult::WriteChannelFailed })
            }
            // No answer to a request that wanted one.
            None if !oneway => (None, RpcResult::ProcessRequestFailed),
            _ => (None, RpcResult::Oneway),
        };
        if let Some(started) = started {
            let long_polling = PARKED.with(|p| p.get());
            handler.answered(&Answered { request_code, response_code, long_polling, result, elapsed: started.elapsed() });
        }
    }));
}
