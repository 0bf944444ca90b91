//! Length-prefixed frames: `int32 length` (not counting itself) followed by `length` bytes.

use bytes::{Buf, Bytes, BytesMut};

use crate::ProtocolError;

/// Default `com.rocketmq.remoting.frameMaxLength`.
pub const DEFAULT_FRAME_MAX_BYTES: usize = 16 * 1024 * 1024;

/// Smallest legal frame body: the 4-byte serialize-type/header-length word.
const FRAME_MIN_BYTES: usize = 4;

/// Takes one complete frame (without its length prefix) off the front of `buf`.
/// Returns `Ok(None)` when more bytes are needed. A length over `frame_max_bytes`
/// is an error before any of the frame is buffered, so memory stays bounded.
pub fn take_frame(buf: &mut BytesMut, frame_max_bytes: usize) -> Result<Option<Bytes>, ProtocolError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let raw = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if raw < 0 || raw as usize > frame_max_bytes {
        return Err(ProtocolError::FrameTooLarge { length: raw as u32 as usize, limit: frame_max_bytes });
    }
    let length = raw as usize;
    if length < FRAME_MIN_BYTES {
        return Err(ProtocolError::FrameTooSmall(length));
    }
    if buf.len() < 4 + length {
        buf.reserve(4 + length - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(length).freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_complete_frame() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 6, 0, 0, 0, 0, 1][..]);
        assert_eq!(take_frame(&mut buf, 100).unwrap(), None);
        buf.extend_from_slice(&[2]);
        let frame = take_frame(&mut buf, 100).unwrap().unwrap();
        assert_eq!(&frame[..], &[0, 0, 0, 0, 1, 2]);
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_oversized_and_negative_lengths() {
        let mut buf = BytesMut::from(&[0u8, 0, 1, 0][..]);
        assert!(matches!(take_frame(&mut buf, 100), Err(ProtocolError::FrameTooLarge { .. })));
        let mut buf = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff][..]);
        assert!(matches!(take_frame(&mut buf, 100), Err(ProtocolError::FrameTooLarge { .. })));
        let mut buf = BytesMut::from(&[0u8, 0, 0, 2, 0, 0][..]);
        assert!(matches!(take_frame(&mut buf, 100), Err(ProtocolError::FrameTooSmall(2))));
    }
}
