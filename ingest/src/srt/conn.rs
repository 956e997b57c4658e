//! One SRT caller: authorize its stream id during the handshake, then move
//! datagrams through the MPEG-TS demuxer into the sink.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use srt_tokio::access::{RejectReason, ServerRejectReason};
use srt_tokio::{ConnectionRequest, SrtSocket};
use tokio::time::timeout;
use tracing::{debug, info, warn};

use super::streamid::{self, StreamIdError};
use crate::publish::{MediaSink, Protocol, PublishAuthorizer, PublishRejection, PublishRequest};
use crate::tally::ErrorTally;
use crate::ts::{TsDemuxer, TsError};

/// The app publishers may name in the stream id (or none at all).
const APP: &str = "live";
const AUTHORIZE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handles one connection request to its end.
pub(super) async fn run<A: PublishAuthorizer>(request: ConnectionRequest, auth: Arc<A>) {
    let remote = request.remote();
    let sink = match authorize(&request, &*auth).await {
        Ok(sink) => sink,
        Err(rejection) => {
            warn!(%remote, reason = %rejection, "srt: publish rejected");
            if let Err(e) = request.reject(rejection.reason()).await {
                debug!(%remote, error = %e, "srt: could not send the rejection");
            }
            return;
        }
    };
    let socket = match request.accept(None).await {
        Ok(socket) => socket,
        Err(e) => {
            warn!(%remote, error = %e, "srt: accepting the connection failed");
            return;
        }
    };
    info!(%remote, "srt: publishing");
    receive(socket, sink, remote).await;
}

/// Why a caller was turned away at the handshake.
#[derive(Debug, thiserror::Error)]
enum Rejection {
    #[error("stream id: {0}")]
    StreamId(#[from] StreamIdError),
    #[error("{0}")]
    Publish(#[from] PublishRejection),
}

impl Rejection {
    fn reason(&self) -> RejectReason {
        RejectReason::Server(match self {
            Rejection::StreamId(StreamIdError::Mode(_)) => ServerRejectReason::BadMode,
            Rejection::StreamId(_) => ServerRejectReason::BadRequest,
            Rejection::Publish(PublishRejection::UnknownKey) => ServerRejectReason::Forbidden,
            Rejection::Publish(PublishRejection::UnknownApp(_)) => ServerRejectReason::Notfound,
            Rejection::Publish(PublishRejection::AlreadyPublishing) => ServerRejectReason::Conflict,
            Rejection::Publish(PublishRejection::Internal(_)) => {
                ServerRejectReason::InternalServerError
            }
        })
    }
}

async fn authorize<A: PublishAuthorizer>(
    request: &ConnectionRequest,
    auth: &A,
) -> Result<MediaSink, Rejection> {
    let raw = request
        .stream_id()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let id = streamid::parse(&raw)?;
    if !id.app.is_empty() && id.app != APP {
        return Err(PublishRejection::UnknownApp(id.app).into());
    }
    let publish = PublishRequest {
        protocol: Protocol::Srt,
        app: id.app,
        key: id.key,
        remote: request.remote(),
    };
    let verdict = timeout(AUTHORIZE_TIMEOUT, auth.authorize(publish))
        .await
        .unwrap_or_else(|_| {
            Err(PublishRejection::Internal(
                "authorization timed out".to_owned(),
            ))
        });
    Ok(verdict?)
}

/// Demuxes the caller's datagrams into the sink until either side stops.
async fn receive(mut socket: SrtSocket, sink: MediaSink, remote: SocketAddr) {
    let mut demuxer = TsDemuxer::new();
    let mut errors = ErrorTally::default();
    let ended = loop {
        let item = tokio::select! {
            item = socket.next() => item,
            () = sink.closed() => break "the server refused the media",
        };
        let Some(Ok((_, datagram))) = item else {
            if let Some(Err(e)) = &item {
                debug!(%remote, error = %e, "srt: receive failed");
            }
            demuxer.flush();
            forward(&mut demuxer, &sink, &mut errors, remote).await;
            break if item.is_none() {
                "caller closed the connection"
            } else {
                "receive failed"
            };
        };
        demuxer.push(&datagram);
        if !forward(&mut demuxer, &sink, &mut errors, remote).await {
            break "the server refused the media";
        }
    };
    info!(%remote, reason = ended, ts_errors = errors.total(), "srt: connection ended");
    let _ = socket.close().await;
}

/// Sends the demuxer's events to the sink and logs its errors; false when
/// the sink is gone.
async fn forward(
    demuxer: &mut TsDemuxer,
    sink: &MediaSink,
    errors: &mut ErrorTally<TsError>,
    remote: SocketAddr,
) -> bool {
    while let Some(result) = demuxer.poll() {
        match result {
            Ok(event) => {
                if sink.send(event).await.is_err() {
                    return false;
                }
            }
            Err(error) => {
                if errors.record(&error) {
                    warn!(%remote, %error, "srt: bad MPEG-TS input (more like it are only counted)");
                } else {
                    debug!(%remote, %error, "srt: bad MPEG-TS input");
                }
            }
        }
    }
    true
}
