//! The `/calimero/sync/1` wire format: every request and every response is
//! one frame, a `u32` big-endian length followed by that many opaque bytes.
//!
//! A frame whose announced length is above the configured bound is refused
//! with [`io::ErrorKind::InvalidData`] before anything is allocated for it, and
//! the body is read through [`AsyncReadExt::take`] so a lying peer can never
//! make us read (or allocate) more than it announced.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// The request-response protocol name.
pub(crate) const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/calimero/sync/1");

/// Initial buffer capacity for a frame body: the buffer grows as bytes
/// actually arrive, so a peer announcing a large frame and then stalling costs
/// us at most this much.
const INITIAL_CAPACITY: usize = 64 * 1024;

/// Length-prefixed opaque-bytes codec for [`SYNC_PROTOCOL`].
#[derive(Clone, Debug)]
pub(crate) struct SyncCodec {
    max_request_size: usize,
    max_response_size: usize,
    /// Incoming requests refused as oversized, truncated or otherwise
    /// malformed. `libp2p-request-response` reports no event at all when
    /// `read_request` fails, so the codec counts them itself.
    malformed_requests: Arc<AtomicU64>,
}

impl SyncCodec {
    pub(crate) fn new(
        max_request_size: usize,
        max_response_size: usize,
        malformed_requests: Arc<AtomicU64>,
    ) -> Self {
        Self {
            max_request_size,
            max_response_size,
            malformed_requests,
        }
    }
}

/// Reads one frame of at most `max` bytes.
pub(crate) async fn read_frame<T>(io: &mut T, max: usize, what: &str) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} of {len} bytes is above the limit of {max} bytes"),
        ));
    }
    let mut data = Vec::with_capacity(len.min(INITIAL_CAPACITY));
    io.take(len as u64).read_to_end(&mut data).await?;
    if data.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "{what} truncated: {} of {len} announced bytes arrived",
                data.len()
            ),
        ));
    }
    Ok(data)
}

/// Writes one frame, refusing (before writing anything) one above `max`.
pub(crate) async fn write_frame<T>(
    io: &mut T,
    data: &[u8],
    max: usize,
    what: &str,
) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    let len = match u32::try_from(data.len()) {
        Ok(len) if data.len() <= max => len,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{what} of {} bytes is above the limit of {max} bytes",
                    data.len()
                ),
            ));
        }
    };
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(data).await?;
    io.flush().await
}

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let result = read_frame(io, self.max_request_size, "request").await;
        if let Err(error) = &result {
            match error.kind() {
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
                    let _ = self.malformed_requests.fetch_add(1, Ordering::Relaxed);
                    // The codec does not know the remote peer id; the stream is dropped.
                    tracing::warn!(%error, "dropping malformed {} request from a peer", SYNC_PROTOCOL);
                }
                _ => tracing::debug!(%error, "failed to read a {} request", SYNC_PROTOCOL),
            }
        }
        result
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response_size, "response").await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request, self.max_request_size, "request").await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response, self.max_response_size, "response").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    #[tokio::test]
    async fn frame_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello", 16, "request")
            .await
            .unwrap();
        assert_eq!(buf, [0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o']);
        let mut cursor = Cursor::new(buf);
        assert_eq!(
            read_frame(&mut cursor, 16, "request").await.unwrap(),
            b"hello"
        );
    }

    #[tokio::test]
    async fn empty_frame() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"", 0, "request").await.unwrap();
        let mut cursor = Cursor::new(buf);
        assert!(
            read_frame(&mut cursor, 0, "request")
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn oversized_length_refused_before_reading_body() {
        // Announces 4 GiB - 1 and carries nothing: must fail on the length alone.
        let mut cursor = Cursor::new(vec![0xff, 0xff, 0xff, 0xff]);
        let error = read_frame(&mut cursor, 1024, "request").await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn truncated_frame_refused() {
        let mut cursor = Cursor::new(vec![0, 0, 0, 10, 1, 2, 3]);
        let error = read_frame(&mut cursor, 1024, "request").await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        let mut cursor = Cursor::new(vec![0, 0]);
        let error = read_frame(&mut cursor, 1024, "request").await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn trailing_bytes_are_not_consumed() {
        let mut cursor = Cursor::new(vec![0, 0, 0, 1, 7, 8, 9]);
        assert_eq!(read_frame(&mut cursor, 1, "request").await.unwrap(), [7]);
        assert_eq!(cursor.position(), 5);
    }

    #[tokio::test]
    async fn oversized_write_refused() {
        let mut buf = Vec::new();
        let error = write_frame(&mut buf, &[0; 17], 16, "response")
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(buf.is_empty());
    }

    #[tokio::test]
    async fn codec_counts_malformed_requests() {
        use request_response::Codec as _;
        let counter = Arc::new(AtomicU64::new(0));
        let mut codec = SyncCodec::new(8, 8, counter.clone());
        let mut cursor = Cursor::new(vec![0, 0, 0, 9]);
        assert!(
            codec
                .read_request(&SYNC_PROTOCOL, &mut cursor)
                .await
                .is_err()
        );
        let mut cursor = Cursor::new(vec![0, 0, 0, 2, 1, 2]);
        assert_eq!(
            codec
                .read_request(&SYNC_PROTOCOL, &mut cursor)
                .await
                .unwrap(),
            [1, 2]
        );
        assert_eq!(counter.load(Ordering::Relaxed), 1);
    }
}
