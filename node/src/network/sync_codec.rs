//! Framing for `/vigia/sync/1`: a 4-byte big-endian length, then the encoded message.
//!
//! The length is checked against [`MAX_SYNC_MESSAGE_BYTES`] before anything is read, and the
//! frame's buffer then grows with the bytes that actually arrive, never with the length a
//! peer merely claims: a peer that announces 4 MiB and sends ten bytes costs ten bytes.
//!
//! A frame a peer should never send is a [`FrameError`]: in an answer it fails the request
//! with the error inside the `io::Error` ([`FrameError::of`]), so the node can tell a
//! peer's fault from a dropped connection; a bad request is read as
//! [`RequestFrame::Invalid`], because request-response reports no peer for a request that
//! fails to read, and the node must know whom to count it against.
//!
//! Every frame read is counted, length prefix included, so the cost of catching up can be
//! compared with the size of what was fetched.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use prometheus_client::metrics::counter::Counter;
use vigia_protocol::codec::{DecodeError, MAX_SYNC_MESSAGE_BYTES};
use vigia_protocol::sync::{self, Request, Response};

/// The request-response codec of the sync protocol.
#[derive(Debug, Clone, Default)]
pub struct SyncCodec {
    /// Bytes read, shared by every connection's copy of the codec.
    received: Counter,
}

impl SyncCodec {
    /// A codec that adds the bytes of every frame it reads to `received`.
    pub fn counting(received: Counter) -> Self {
        Self { received }
    }
}

/// First allocation for a frame; larger frames grow as their bytes arrive.
const INITIAL_FRAME_CAPACITY: usize = 64 * 1024;

/// A sync frame that no correct peer sends: proof of a fault on the other side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix is over the protocol's limit.
    #[error("sync message of {len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// The length the peer announced.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The frame does not decode to a sync message.
    #[error("undecodable sync message: {0}")]
    Malformed(#[from] DecodeError),
}

impl FrameError {
    /// Short stable name, for metrics labels and per-peer counts.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::TooLarge { .. } => "sync_frame_too_large",
            FrameError::Malformed(_) => "sync_malformed",
        }
    }

    /// The frame error inside an I/O error from this codec, if that is what it holds (a
    /// closed stream or a timeout is nobody's provable fault and holds none).
    pub fn of(error: &io::Error) -> Option<&FrameError> {
        error.get_ref()?.downcast_ref::<FrameError>()
    }
}

impl From<FrameError> for io::Error {
    fn from(error: FrameError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, error)
    }
}

/// A request as read from a peer.
#[derive(Debug)]
pub enum RequestFrame {
    /// A well-formed request.
    Valid(Request),
    /// A frame that is no request; the node answers with a refusal naming the fault.
    Invalid(FrameError),
}

/// Reads one frame. Cancel-safe only in the sense that dropping it drops the stream too,
/// which is how request-response uses it.
pub async fn read_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    received: &Counter,
) -> io::Result<Vec<u8>> {
    let mut length = [0u8; 4];
    io.read_exact(&mut length).await?;
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_SYNC_MESSAGE_BYTES {
        return Err(FrameError::TooLarge {
            len: length,
            limit: MAX_SYNC_MESSAGE_BYTES,
        }
        .into());
    }
    let mut frame = Vec::with_capacity(length.min(INITIAL_FRAME_CAPACITY));
    let read = io.take(length as u64).read_to_end(&mut frame).await?;
    if read < length {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("sync message ended after {read} of {length} bytes"),
        ));
    }
    received.inc_by((length + 4) as u64);
    Ok(frame)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, frame: &[u8]) -> io::Result<()> {
    let length = u32::try_from(frame.len())
        .ok()
        .filter(|length| *length as usize <= MAX_SYNC_MESSAGE_BYTES)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "sync message too large"))?;
    io.write_all(&length.to_be_bytes()).await?;
    io.write_all(frame).await?;
    io.close().await
}

fn invalid(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

fn malformed(error: DecodeError) -> io::Error {
    FrameError::Malformed(error).into()
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = RequestFrame;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<RequestFrame>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = match read_frame(io, &self.received).await {
            Ok(frame) => frame,
            Err(error) if FrameError::of(&error).is_some() => {
                let fault = error
                    .into_inner()
                    .and_then(|inner| inner.downcast::<FrameError>().ok())
                    .ok_or_else(|| invalid("frame error lost"))?;
                return Ok(RequestFrame::Invalid(*fault));
            }
            Err(error) => return Err(error),
        };
        Ok(match sync::decode_request(&frame) {
            Ok(request) => RequestFrame::Valid(request),
            Err(error) => RequestFrame::Invalid(FrameError::Malformed(error)),
        })
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        sync::decode_response(&read_frame(io, &self.received).await?).map_err(malformed)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: RequestFrame,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let RequestFrame::Valid(req) = req else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an invalid request frame is never sent",
            ));
        };
        write_frame(io, &sync::encode_request(&req).map_err(invalid)?).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &sync::encode_response(&res).map_err(invalid)?).await
    }
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;

    use super::*;

    fn read(bytes: Vec<u8>) -> io::Result<Vec<u8>> {
        futures::executor::block_on(read_frame(&mut Cursor::new(bytes), &Counter::default()))
    }

    #[test]
    fn length_over_the_limit_fails_before_reading_the_body() {
        let claimed = (MAX_SYNC_MESSAGE_BYTES + 1) as u32;
        let error = read(claimed.to_be_bytes().to_vec()).expect_err("refused");
        let fault = FrameError::of(&error).expect("a frame error");
        assert_eq!(fault.reason(), "sync_frame_too_large");
        assert!(error.to_string().contains("over the limit"), "{error}");
    }

    #[test]
    fn short_frame_is_an_eof_not_a_fault() {
        let mut bytes = (MAX_SYNC_MESSAGE_BYTES as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[7; 10]);
        let error = read(bytes).expect_err("short frame");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert!(FrameError::of(&error).is_none());
    }

    #[test]
    fn garbage_frame_is_a_malformed_fault() {
        let mut codec = SyncCodec::default();
        let mut bytes = 5u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0xff; 5]);
        let protocol = StreamProtocol::new(sync::PROTOCOL_NAME);
        let result = futures::executor::block_on(libp2p::request_response::Codec::read_response(
            &mut codec,
            &protocol,
            &mut Cursor::new(bytes),
        ));
        let error = result.expect_err("garbage refused");
        assert_eq!(
            FrameError::of(&error).map(FrameError::reason),
            Some("sync_malformed")
        );
    }

    #[test]
    fn bad_request_frames_are_read_as_invalid_requests() {
        let protocol = StreamProtocol::new(sync::PROTOCOL_NAME);
        let read = |bytes: Vec<u8>| {
            let mut codec = SyncCodec::default();
            futures::executor::block_on(libp2p::request_response::Codec::read_request(
                &mut codec,
                &protocol,
                &mut Cursor::new(bytes),
            ))
        };
        let mut garbage = 3u32.to_be_bytes().to_vec();
        garbage.extend_from_slice(&[0xff; 3]);
        let too_large = u32::MAX.to_be_bytes().to_vec();
        for (bytes, reason) in [
            (garbage, "sync_malformed"),
            (too_large, "sync_frame_too_large"),
        ] {
            match read(bytes) {
                Ok(RequestFrame::Invalid(fault)) => assert_eq!(fault.reason(), reason),
                other => panic!("{reason}: read as {other:?}"),
            }
        }
        let cut_short = 100u32.to_be_bytes().to_vec();
        assert!(read(cut_short).is_err(), "a stream cut short is no request");
    }

    #[test]
    fn frame_round_trips_whole() {
        let body = vec![42u8; INITIAL_FRAME_CAPACITY * 3 + 5];
        let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&body);
        assert_eq!(read(bytes).expect("reads"), body);
    }
}
