//! Framing for `/vigia/sync/1`: a 4-byte big-endian length, then the encoded message.
//!
//! The length is checked against [`MAX_SYNC_MESSAGE_BYTES`] before anything is allocated, so
//! a peer cannot make a node reserve more than one maximal message per stream.
//!
//! Every frame read is counted, length prefix included, so the cost of catching up can be
//! compared with the size of what was fetched.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use prometheus_client::metrics::counter::Counter;
use vigia_protocol::codec::MAX_SYNC_MESSAGE_BYTES;
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

async fn read_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    received: &Counter,
) -> io::Result<Vec<u8>> {
    let mut length = [0u8; 4];
    io.read_exact(&mut length).await?;
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_SYNC_MESSAGE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sync message of {length} bytes is over the limit of {MAX_SYNC_MESSAGE_BYTES}"),
        ));
    }
    let mut frame = vec![0u8; length];
    io.read_exact(&mut frame).await?;
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

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        sync::decode_request(&read_frame(io, &self.received).await?).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        sync::decode_response(&read_frame(io, &self.received).await?).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
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
