//! Frames, command headers (JSON and binary) and the typed headers built on them.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use protocol::header::{PullMessageRequestHeader, RegisterBrokerRequestHeader, SendMessageRequestHeader};
use protocol::RemotingCommand;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = protocol::frame::take_frame(&mut buf, 1 << 20) {
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
