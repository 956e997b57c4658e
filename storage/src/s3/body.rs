//! Bodies between this crate and the SDK, streamed both ways.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use aws_sdk_s3::primitives::{ByteStream as SdkStream, Length, SdkBody};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use sync_wrapper::SyncWrapper;

use crate::body::{Body, ByteStream};
use crate::error::{Result, StorageError};

/// A body for a request. Bytes and file regions can be sent again when the
/// SDK retries; a stream cannot, so a request with one is tried once.
pub(super) async fn to_sdk(body: Body) -> Result<SdkStream> {
    match body {
        Body::Bytes(bytes) => Ok(SdkStream::from(bytes)),
        Body::File { path, offset, len } => SdkStream::read_from()
            .path(&path)
            .offset(offset)
            .length(Length::Exact(len))
            .build()
            .await
            .map_err(|err| {
                StorageError::io(format!("read {}", path.display()), io::Error::other(err))
            }),
        Body::Stream { stream, len } => Ok(SdkStream::new(SdkBody::from_body_1_x(SizedBody {
            // The SDK wants a Sync body; the stream is only ever polled
            // through `&mut`, which SyncWrapper allows.
            stream: SyncWrapper::new(stream),
            declared: len,
            sent: 0,
        }))),
    }
}

/// A stream of known length as an HTTP body, so that the request carries a
/// Content-Length and is not chunked.
struct SizedBody {
    stream: SyncWrapper<ByteStream>,
    declared: u64,
    sent: u64,
}

impl http_body::Body for SizedBody {
    type Data = Bytes;
    type Error = StorageError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>>>> {
        let this = self.get_mut();
        let next = ready!(this.stream.get_mut().as_mut().poll_next(cx));
        Poll::Ready(match next {
            Some(Ok(bytes)) => {
                this.sent += bytes.len() as u64;
                if this.sent > this.declared {
                    Some(Err(this.mismatch()))
                } else {
                    Some(Ok(Frame::data(bytes)))
                }
            }
            Some(Err(err)) => Some(Err(err)),
            None if this.sent < this.declared => Some(Err(this.mismatch())),
            None => None,
        })
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.declared.saturating_sub(self.sent))
    }
}

impl SizedBody {
    fn mismatch(&self) -> StorageError {
        StorageError::LengthMismatch {
            expected: self.declared,
            actual: self.sent,
        }
    }
}

/// The chunks of a response body.
pub(super) fn from_sdk(body: SdkStream, key: String) -> ByteStream {
    Box::pin(futures_util::stream::try_unfold(
        (body, key),
        |(mut body, key)| async move {
            match body.try_next().await {
                Ok(Some(bytes)) => Ok(Some((bytes, (body, key)))),
                Ok(None) => Ok(None),
                Err(err) => Err(StorageError::S3 {
                    operation: "GetObject",
                    message: format!("reading {key:?}: {err}"),
                    source: Box::new(err),
                }),
            }
        },
    ))
}
