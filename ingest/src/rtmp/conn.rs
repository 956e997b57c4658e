//! One RTMP connection: moves bytes between the socket and [`RtmpSession`],
//! asks the authorizer about publish requests, and forwards media.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tracing::{debug, info, warn};

use super::RtmpError;
use super::session::{APP, Output, RtmpSession};
use crate::flv::FlvError;
use crate::publish::{MediaSink, Protocol, PublishAuthorizer, PublishRejection, PublishRequest};
use crate::tally::ErrorTally;

/// From accept until the publish is granted.
const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Silence tolerated from a publisher.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const AUTHORIZE_TIMEOUT: Duration = Duration::from_secs(10);
const READ_BUFFER: usize = 64 * 1024;

/// Runs one connection to its end and logs how it ended.
pub(super) async fn run<A: PublishAuthorizer>(stream: TcpStream, remote: SocketAddr, auth: Arc<A>) {
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        remote,
        sink: None,
        media_errors: ErrorTally::default(),
    };
    match conn.serve(&*auth).await {
        Ok(()) => info!(%remote, "rtmp: connection closed"),
        Err(RtmpError::Rejected(reason)) => warn!(%remote, %reason, "rtmp: publish rejected"),
        Err(RtmpError::SinkClosed) => info!(%remote, "rtmp: server refused the media; closing"),
        Err(error @ (RtmpError::Panic(_) | RtmpError::AmfTooDeep)) => {
            warn!(%remote, %error, "rtmp: malformed input; closing")
        }
        Err(error) => info!(%remote, %error, "rtmp: connection ended"),
    }
    if conn.media_errors.total() > 0 {
        info!(%remote, dropped = conn.media_errors.total(), "rtmp: media messages dropped during the connection");
    }
}

struct Conn {
    stream: TcpStream,
    remote: SocketAddr,
    /// Set once the publish is granted.
    sink: Option<MediaSink>,
    media_errors: ErrorTally<FlvError>,
}

impl Conn {
    async fn serve<A: PublishAuthorizer>(&mut self, auth: &A) -> Result<(), RtmpError> {
        let setup_deadline = Instant::now() + SETUP_TIMEOUT;
        let mut session = RtmpSession::new();
        let mut buf = vec![0u8; READ_BUFFER];
        let mut out = Vec::new();
        loop {
            let deadline = if self.sink.is_some() {
                Instant::now() + IDLE_TIMEOUT
            } else {
                setup_deadline
            };
            let read = tokio::select! {
                read = timeout_at(deadline, self.stream.read(&mut buf)) => read,
                () = sink_closed(self.sink.as_ref()) => return Err(RtmpError::SinkClosed),
            };
            let n = read.map_err(|_| {
                RtmpError::Timeout(if self.sink.is_some() {
                    "waiting for media"
                } else {
                    "before publishing"
                })
            })??;
            if n == 0 {
                return Ok(());
            }
            let result = session.handle_input(&buf[..n], &mut out);
            // Send what the session produced (e.g. a rejection) even if it then failed.
            let finished = self.outputs(&mut session, &mut out, auth).await?;
            result?;
            if finished {
                return Ok(());
            }
        }
    }

    /// Carries out the session's outputs in order; true when the publisher finished.
    async fn outputs<A: PublishAuthorizer>(
        &mut self,
        session: &mut RtmpSession,
        out: &mut Vec<Output>,
        auth: &A,
    ) -> Result<bool, RtmpError> {
        let mut finished = false;
        for output in std::mem::take(out) {
            match output {
                Output::Send(bytes) => self.write(&bytes).await?,
                Output::PublishRequested { request_id, key } => {
                    let verdict = self.authorize(auth, key).await;
                    let mut replies = Vec::new();
                    match &verdict {
                        Ok(_) => session.accept_publish(request_id, &mut replies)?,
                        Err(reason) => session.reject_publish(request_id, reason, &mut replies)?,
                    }
                    for reply in replies {
                        if let Output::Send(bytes) = reply {
                            self.write(&bytes).await?;
                        }
                    }
                    self.sink = Some(verdict?);
                    info!(remote = %self.remote, "rtmp: publishing");
                }
                Output::Media(event) => {
                    if let Some(sink) = &self.sink {
                        sink.send(event).await.map_err(|_| RtmpError::SinkClosed)?;
                    }
                }
                Output::MediaError(error) => {
                    if self.media_errors.record(&error) {
                        warn!(remote = %self.remote, %error, "rtmp: media message dropped (more like it are only counted)");
                    } else {
                        debug!(remote = %self.remote, %error, "rtmp: media message dropped");
                    }
                }
                Output::PublishFinished => finished = true,
            }
        }
        Ok(finished)
    }

    async fn authorize<A: PublishAuthorizer>(
        &self,
        auth: &A,
        key: String,
    ) -> Result<MediaSink, PublishRejection> {
        let request = PublishRequest {
            protocol: Protocol::Rtmp,
            app: APP.to_owned(),
            key,
            remote: self.remote,
        };
        timeout(AUTHORIZE_TIMEOUT, auth.authorize(request))
            .await
            .unwrap_or_else(|_| {
                Err(PublishRejection::Internal(
                    "authorization timed out".to_owned(),
                ))
            })
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), RtmpError> {
        timeout(WRITE_TIMEOUT, self.stream.write_all(bytes))
            .await
            .map_err(|_| RtmpError::Timeout("writing"))??;
        Ok(())
    }
}

/// Resolves when the server drops the receiving end of `sink`.
async fn sink_closed(sink: Option<&MediaSink>) {
    match sink {
        Some(sink) => sink.closed().await,
        None => std::future::pending().await,
    }
}
