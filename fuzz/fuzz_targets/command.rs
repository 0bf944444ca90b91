//! Frames, command headers (JSON and binary) and the typed headers built on them.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use protocol::header::{PullMessageRequestHeader, RegisterBrokerRequestHeader, SendMessageRequestHeader};
use protocol::RemotingCommand;

fuzz_target!(|data: &[u8]| {
    // The fast JSON header reader must read whatever it reads as the serde reader does.
    assert!(protocol::command::json_readers_agree(data), "JSON header readers disagree");
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = protocol::frame::take_frame(&mut buf, 1 << 20) {
        if frame.len() >= 4 && frame[0] == 0 {
            let len = u32::from_be_bytes([0, frame[1], frame[2], frame[3]]) as usize;
            if let Some(header) = frame.get(4..4 + len) {
                assert!(protocol::command::json_readers_agree(header), "JSON header readers disagree");
            }
        }
        if let Ok(cmd) = RemotingCommand::decode(frame) {
            let _ = SendMessageRequestHeader::decode(&cmd.ext_fields, true);
            let _ = SendMessageRequestHeader::decode(&cmd.ext_fields, false);
            let _ = PullMessageRequestHeader::decode(&cmd.ext_fields);
            let _ = RegisterBrokerRequestHeader::decode(&cmd.ext_fields);
            // What decodes must encode and decode again to the same command.
            let again = RemotingCommand::decode(cmd.encode_to_bytes().slice(4..)).expect("re-decode");
            assert_eq!(again.code as i16, cmd.code as i16);
        }
    }
});
