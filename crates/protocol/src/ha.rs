//! Rocketry's replication protocol (a replica following its master's CommitLog), as pure
//! data. Ours, not Java's HA stream: it opens with a handshake that names the replica and
//! says where its log ends, so the master can refuse a replica that cannot follow (ahead of
//! it, or misaligned) instead of streaming bytes that do not fit; and a chunk is whole
//! records, so the replica checks each one before it writes.
//!
//! Every frame is `u32 length` (of what follows it) `u8 kind` then the kind's fields, all
//! big-endian; a string is `u16 length` and UTF-8.
//!
//! | kind | direction | fields |
//! |---|---|---|
//! | 1 `Hello` | replica → master | `u32` magic `RQHA`, `u16` version, `i64` broker id, `u64` log end, `u32` most bytes of records it takes in one frame, cluster, broker name, `u16` count then `{u32 epoch, u64 start}` of its epochs (failover) |
//! | 2 `Welcome` | master → replica | `u64` where the master starts sending, `u64` master's log end, its epochs as in `Hello` |
//! | 3 `Refused` | master → replica | reason (the master closes the connection) |
//! | 4 `Data` | master → replica | `u64` offset, `u64` master's log end, then whole records to the frame's end |
//! | 5 `Ack` | replica → master | `u64` the replica's log end (after writing what it received) |
//! | 6 `Heartbeat` | master → replica | `u64` master's log end |
//! | 7 `Truncate` | master → replica | `u64` where the replica's log stops agreeing with the master's: it drops everything from there and says hello again |

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::ProtocolError;

pub const MAGIC: u32 = 0x5251_4841; // "RQHA"
pub const VERSION: u16 = 1;
/// `u32` length and `u8` kind.
pub const FRAME_HEAD_BYTES: usize = 5;
/// What precedes a `Data` frame's records: the frame head, offset and master end.
pub const DATA_HEAD_BYTES: usize = FRAME_HEAD_BYTES + 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Hello { version: u16, broker_id: i64, end: u64, max_chunk: u32, cluster: String, broker_name: String, epochs: Vec<(u32, u64)> },
    Welcome { start: u64, master_end: u64, epochs: Vec<(u32, u64)> },
    Refused { reason: String },
    Data { offset: u64, master_end: u64, records: Bytes },
    Ack { end: u64 },
    Heartbeat { master_end: u64 },
    Truncate { offset: u64 },
}

/// Most epochs a hello carries (a log's epochs, one per failover it saw).
pub const MAX_EPOCHS: usize = 4096;

fn bad(why: &str) -> ProtocolError {
    ProtocolError::BadBody(format!("replication frame: {why}"))
}

fn put_str(out: &mut BytesMut, s: &str) {
    // Names are short; a longer string is cut at a character boundary rather than wrapped.
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.put_u16(end as u16);
    out.put_slice(&s.as_bytes()[..end]);
}

fn get_str(buf: &mut Bytes) -> Result<String, ProtocolError> {
    if buf.remaining() < 2 {
        return Err(bad("string cut short"));
    }
    let len = buf.get_u16() as usize;
    if buf.remaining() < len {
        return Err(bad("string cut short"));
    }
    String::from_utf8(buf.split_to(len).to_vec()).map_err(|_| bad("string is not UTF-8"))
}

fn get_u64(buf: &mut Bytes) -> Result<u64, ProtocolError> {
    if buf.remaining() < 8 {
        return Err(bad("cut short"));
    }
    Ok(buf.get_u64())
}

/// A log's epochs: the newest `MAX_EPOCHS` (the ones a comparison needs).
fn put_epochs(out: &mut BytesMut, epochs: &[(u32, u64)]) {
    let n = epochs.len().min(MAX_EPOCHS);
    out.put_u16(n as u16);
    for (epoch, start) in &epochs[epochs.len() - n..] {
        out.put_u32(*epoch);
        out.put_u64(*start);
    }
}

fn get_epochs(f: &mut Bytes) -> Result<Vec<(u32, u64)>, ProtocolError> {
    if f.remaining() < 2 {
        return Err(bad("epochs cut short"));
    }
    let n = f.get_u16() as usize;
    if n > MAX_EPOCHS || f.remaining() < n * 12 {
        return Err(bad("epochs cut short or too many"));
    }
    Ok((0..n).map(|_| (f.get_u32(), f.get_u64())).collect())
}

impl Frame {
    /// Appends the whole frame to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u32(0);
        match self {
            Frame::Hello { version, broker_id, end, max_chunk, cluster, broker_name, epochs } => {
                out.put_u8(1);
                out.put_u32(MAGIC);
                out.put_u16(*version);
                out.put_i64(*broker_id);
                out.put_u64(*end);
                out.put_u32(*max_chunk);
                put_str(out, cluster);
                put_str(out, broker_name);
                put_epochs(out, epochs);
            }
            Frame::Welcome { start, master_end, epochs } => {
                out.put_u8(2);
                out.put_u64(*start);
                out.put_u64(*master_end);
                put_epochs(out, epochs);
            }
            Frame::Refused { reason } => {
                out.put_u8(3);
                put_str(out, reason);
            }
            Frame::Data { offset, master_end, records } => {
                out.put_slice(&Frame::data_head(*offset, *master_end, records.len())[4..]);
                out.put_slice(records);
            }
            Frame::Ack { end } => {
                out.put_u8(5);
                out.put_u64(*end);
            }
            Frame::Heartbeat { master_end } => {
                out.put_u8(6);
                out.put_u64(*master_end);
            }
            Frame::Truncate { offset } => {
                out.put_u8(7);
                out.put_u64(*offset);
            }
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// A `Data` frame's head, for records written after it from where they lie.
    pub fn data_head(offset: u64, master_end: u64, records: usize) -> [u8; DATA_HEAD_BYTES] {
        let mut head = [0u8; DATA_HEAD_BYTES];
        head[..4].copy_from_slice(&((DATA_HEAD_BYTES - 4 + records) as u32).to_be_bytes());
        head[4] = 4;
        head[5..13].copy_from_slice(&offset.to_be_bytes());
        head[13..21].copy_from_slice(&master_end.to_be_bytes());
        head
    }

    /// Takes one whole frame off the front of `buf`: `Ok(None)` until one is there. A frame
    /// longer than `max_len` is an error before any of it is buffered.
    pub fn decode(buf: &mut BytesMut, max_len: usize) -> Result<Option<Frame>, ProtocolError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len > max_len {
            return Err(ProtocolError::FrameTooLarge { length: len, limit: max_len });
        }
        if len == 0 {
            return Err(ProtocolError::FrameTooSmall(len));
        }
        if buf.len() < 4 + len {
            return Ok(None);
        }
        buf.advance(4);
        let mut f = buf.split_to(len).freeze();
        let kind = f.get_u8();
        let frame = match kind {
            1 => {
                if f.remaining() < 4 + 2 + 8 + 8 + 4 {
                    return Err(bad("hello cut short"));
                }
                if f.get_u32() != MAGIC {
                    return Err(bad("not a Rocketry replica (bad magic)"));
                }
                let version = f.get_u16();
                let broker_id = f.get_i64();
                let end = f.get_u64();
                let max_chunk = f.get_u32();
                let cluster = get_str(&mut f)?;
                let broker_name = get_str(&mut f)?;
                let epochs = get_epochs(&mut f)?;
                Frame::Hello { version, broker_id, end, max_chunk, cluster, broker_name, epochs }
            }
            2 => Frame::Welcome { start: get_u64(&mut f)?, master_end: get_u64(&mut f)?, epochs: get_epochs(&mut f)? },
            3 => Frame::Refused { reason: get_str(&mut f)? },
            4 => {
                let (offset, master_end) = (get_u64(&mut f)?, get_u64(&mut f)?);
                Frame::Data { offset, master_end, records: f.split_off(0) }
            }
            5 => Frame::Ack { end: get_u64(&mut f)? },
            6 => Frame::Heartbeat { master_end: get_u64(&mut f)? },
            7 => Frame::Truncate { offset: get_u64(&mut f)? },
            other => return Err(bad(&format!("unknown kind {other}"))),
        };
        if f.has_remaining() {
            return Err(bad("trailing bytes"));
        }
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Frame> {
        vec![
            Frame::Hello {
                version: VERSION,
                broker_id: 2,
                end: 1 << 40,
                max_chunk: 1 << 20,
                cluster: "DefaultCluster".into(),
                broker_name: "broker-ä".into(),
                epochs: vec![(0, 0), (3, 1 << 35)],
            },
            Frame::Welcome { start: 4096, master_end: 9000, epochs: vec![(1, 0)] },
            Frame::Refused { reason: "ahead of the master".into() },
            Frame::Data { offset: 1 << 33, master_end: 1 << 34, records: Bytes::from_static(b"records") },
            Frame::Data { offset: 0, master_end: 0, records: Bytes::new() },
            Frame::Ack { end: 77 },
            Frame::Heartbeat { master_end: 78 },
            Frame::Truncate { offset: 4096 },
        ]
    }

    #[test]
    fn frames_round_trip_whole_and_byte_by_byte() {
        let mut wire = BytesMut::new();
        for f in all() {
            f.encode(&mut wire);
        }
        let whole = wire.clone();
        let mut got = Vec::new();
        while let Some(f) = Frame::decode(&mut wire, 1 << 20).unwrap() {
            got.push(f);
        }
        assert_eq!(got, all());
        assert!(wire.is_empty());
        // Fed one byte at a time, nothing is decoded early.
        let (mut buf, mut got) = (BytesMut::new(), Vec::new());
        for b in whole.iter() {
            buf.put_u8(*b);
            if let Some(f) = Frame::decode(&mut buf, 1 << 20).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, all());
    }

    #[test]
    fn the_data_head_matches_the_encoded_frame() {
        let records = Bytes::from_static(b"abc");
        let mut wire = BytesMut::new();
        Frame::Data { offset: 5, master_end: 9, records: records.clone() }.encode(&mut wire);
        assert_eq!(&wire[..DATA_HEAD_BYTES], &Frame::data_head(5, 9, 3));
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut big = BytesMut::from(&[0u8, 0x10, 0, 0, 4][..]);
        assert_eq!(Frame::decode(&mut big, 1024), Err(ProtocolError::FrameTooLarge { length: 0x10_0000, limit: 1024 }));
        for raw in [&[0u8, 0, 0, 1, 9][..], &[0, 0, 0, 2, 5, 1], &[0, 0, 0, 0], &[0, 0, 0, 10, 6, 0, 0, 0, 0, 0, 0, 0, 1, 0]] {
            assert!(Frame::decode(&mut BytesMut::from(raw), 1024).is_err(), "{raw:?}");
        }
        let mut hello = BytesMut::new();
        Frame::Hello { version: 1, broker_id: 1, end: 0, max_chunk: 1, cluster: "c".into(), broker_name: "b".into(), epochs: Vec::new() }.encode(&mut hello);
        hello[5] ^= 1; // the magic
        assert!(Frame::decode(&mut hello, 1024).is_err());
    }
}
