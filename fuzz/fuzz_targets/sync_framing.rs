//! The `/vigia/sync/1` stream codec reading arbitrary bytes, as a peer's stream delivers
//! them: a 4-byte big-endian length, then the message.
//!
//! Each input is read once as a request and once as a response, through the node's own
//! `SyncCodec`. Asserts: nothing panics; a length over the limit is refused before anything
//! is read (a request frame reads as invalid); a message read is one the codec writes back
//! as a frame that reads to the same message.
#![no_main]

use futures::executor::block_on;
use futures::io::Cursor;
use libfuzzer_sys::fuzz_target;
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;
use vigia_node::network::sync_codec::{RequestFrame, SyncCodec};
use vigia_protocol::codec::MAX_SYNC_MESSAGE_BYTES;
use vigia_protocol::sync::PROTOCOL_NAME;

fn declared_length(data: &[u8]) -> Option<usize> {
    let prefix: [u8; 4] = data.get(..4)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes(prefix)).ok()
}

fuzz_target!(|data: &[u8]| {
    let protocol = StreamProtocol::new(PROTOCOL_NAME);
    let mut codec = SyncCodec::default();
    let over_limit = declared_length(data).is_some_and(|length| length > MAX_SYNC_MESSAGE_BYTES);

    let request = block_on(codec.read_request(&protocol, &mut Cursor::new(data)));
    if let Ok(RequestFrame::Valid(request)) = request {
        assert!(!over_limit, "a frame over the limit was read");
        let mut frame = Cursor::new(Vec::new());
        let valid = RequestFrame::Valid(request.clone());
        block_on(codec.write_request(&protocol, &mut frame, valid))
            .expect("a request read is written back");
        let mut written = Cursor::new(frame.into_inner());
        let again = block_on(codec.read_request(&protocol, &mut written));
        assert!(matches!(again, Ok(RequestFrame::Valid(again)) if again == request));
    }

    let response = block_on(codec.read_response(&protocol, &mut Cursor::new(data)));
    if let Ok(response) = response {
        assert!(!over_limit, "a frame over the limit was read");
        let mut frame = Cursor::new(Vec::new());
        block_on(codec.write_response(&protocol, &mut frame, response.clone()))
            .expect("a response read is written back");
        let mut written = Cursor::new(frame.into_inner());
        let again = block_on(codec.read_response(&protocol, &mut written));
        assert_eq!(again.ok(), Some(response));
    }
});
