//! One RTMP connection as a plain state machine (sans-IO): bytes in,
//! [`Output`]s out. It drives rml_rtmp's handshake and `ServerSession`,
//! vets AMF with [`AmfGuard`], enforces the `live` app, and demuxes media
//! with [`FlvDemuxer`]. Publishing is granted or refused from outside
//! ([`accept_publish`](RtmpSession::accept_publish) /
//! [`reject_publish`](RtmpSession::reject_publish)).
//!
//! Every call into rml_rtmp runs under `catch_unwind`: a panic there (it has
//! some on malformed input) becomes [`RtmpError::Panic`] and ends only this
//! session.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};

use super::RtmpError;
use super::amf_guard::AmfGuard;
use super::fcpublish::on_fc_publish;
use crate::flv::{FlvDemuxer, FlvError};
use crate::media::MediaEvent;
use crate::publish::PublishRejection;

/// The only RTMP application publishers may connect to.
pub(crate) const APP: &str = "live";

/// What the connection has to do, in order.
#[derive(Debug)]
pub(crate) enum Output {
    /// Bytes to write to the peer.
    Send(Bytes),
    /// The peer asks to publish on `key`; answer with accept or reject.
    PublishRequested {
        request_id: u32,
        key: String,
    },
    Media(MediaEvent),
    /// A media message that could not be used (the session goes on).
    MediaError(FlvError),
    /// The publisher ended its stream.
    PublishFinished,
}

enum Stage {
    Handshake(Box<Handshake>),
    Session {
        session: Box<ServerSession>,
        guard: AmfGuard,
    },
    /// After an rml_rtmp panic the session state cannot be trusted.
    Poisoned,
}

/// The state of one RTMP connection; see the [module docs](self).
pub(crate) struct RtmpSession {
    stage: Stage,
    demuxer: FlvDemuxer,
    /// Whether a publish request is pending or granted on this connection.
    publishing: bool,
    chunk_size: u32,
}

impl RtmpSession {
    pub(crate) fn new() -> Self {
        Self {
            stage: Stage::Handshake(Box::new(Handshake::new(PeerType::Server))),
            demuxer: FlvDemuxer::new(),
            publishing: false,
            chunk_size: ServerSessionConfig::new().chunk_size,
        }
    }

    /// Feeds bytes read from the peer. Outputs produced before an error are
    /// still in `out` (e.g. a rejection to send before closing).
    pub(crate) fn handle_input(
        &mut self,
        data: &[u8],
        out: &mut Vec<Output>,
    ) -> Result<(), RtmpError> {
        let result = self.input(data, out);
        self.poison_on_panic(result)
    }

    /// Grants a publish request.
    pub(crate) fn accept_publish(
        &mut self,
        request_id: u32,
        out: &mut Vec<Output>,
    ) -> Result<(), RtmpError> {
        let result = self.accept(request_id, out);
        self.poison_on_panic(result)
    }

    /// Refuses a publish request, queueing the error status for the peer.
    pub(crate) fn reject_publish(
        &mut self,
        request_id: u32,
        reason: &PublishRejection,
        out: &mut Vec<Output>,
    ) -> Result<(), RtmpError> {
        let result = self.reject(request_id, reason, out);
        self.poison_on_panic(result)
    }

    /// After an rml_rtmp panic its state cannot be trusted: refuse further input.
    fn poison_on_panic(&mut self, result: Result<(), RtmpError>) -> Result<(), RtmpError> {
        if matches!(result, Err(RtmpError::Panic(_))) {
            self.stage = Stage::Poisoned;
        }
        result
    }

    fn input(&mut self, data: &[u8], out: &mut Vec<Output>) -> Result<(), RtmpError> {
        match &mut self.stage {
            Stage::Poisoned => Err(RtmpError::Poisoned),
            Stage::Handshake(handshake) => {
                let result = guarded(|| handshake.process_bytes(data))??;
                match result {
                    HandshakeProcessResult::InProgress { response_bytes } => {
                        send(out, response_bytes);
                        Ok(())
                    }
                    HandshakeProcessResult::Completed {
                        response_bytes,
                        remaining_bytes,
                    } => {
                        send(out, response_bytes);
                        let config = ServerSessionConfig::new();
                        self.chunk_size = config.chunk_size;
                        let (session, results) = guarded(|| ServerSession::new(config))??;
                        self.stage = Stage::Session {
                            session: Box::new(session),
                            guard: AmfGuard::new(),
                        };
                        self.results(results, out)?;
                        if remaining_bytes.is_empty() {
                            Ok(())
                        } else {
                            self.input(&remaining_bytes, out)
                        }
                    }
                }
            }
            Stage::Session { session, guard } => {
                guarded(|| guard.check(data))??;
                let results = guarded(|| session.handle_input(data))??;
                self.results(results, out)
            }
        }
    }

    fn accept(&mut self, request_id: u32, out: &mut Vec<Output>) -> Result<(), RtmpError> {
        let session = self.session()?;
        let results = guarded(|| session.accept_request(request_id))??;
        self.results(results, out)
    }

    fn reject(
        &mut self,
        request_id: u32,
        reason: &PublishRejection,
        out: &mut Vec<Output>,
    ) -> Result<(), RtmpError> {
        let code = match reason {
            PublishRejection::UnknownKey | PublishRejection::AlreadyPublishing => {
                "NetStream.Publish.BadName"
            }
            PublishRejection::UnknownApp(_) | PublishRejection::Internal(_) => {
                "NetStream.Publish.Denied"
            }
        };
        let description = reason.to_string();
        let session = self.session()?;
        let results = guarded(|| session.reject_request(request_id, code, &description))??;
        self.results(results, out)
    }

    fn session(&mut self) -> Result<&mut ServerSession, RtmpError> {
        match &mut self.stage {
            Stage::Session { session, .. } => Ok(session),
            _ => Err(RtmpError::Poisoned),
        }
    }

    fn results(
        &mut self,
        results: Vec<ServerSessionResult>,
        out: &mut Vec<Output>,
    ) -> Result<(), RtmpError> {
        for result in results {
            match result {
                ServerSessionResult::OutboundResponse(packet) => send(out, packet.bytes),
                ServerSessionResult::RaisedEvent(event) => self.event(event, out)?,
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(())
    }

    fn event(&mut self, event: ServerSessionEvent, out: &mut Vec<Output>) -> Result<(), RtmpError> {
        match event {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                let app = app_name
                    .split('?')
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('/');
                let session = self.session()?;
                if app == APP {
                    let results = guarded(|| session.accept_request(request_id))??;
                    return self.results(results, out);
                }
                let rejection = PublishRejection::UnknownApp(app.to_owned());
                let description = rejection.to_string();
                let results = guarded(|| {
                    session.reject_request(
                        request_id,
                        "NetConnection.Connect.Rejected",
                        &description,
                    )
                })??;
                self.results(results, out)?;
                Err(RtmpError::Rejected(rejection))
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                stream_key,
                ..
            } => {
                if self.publishing {
                    // One publish per connection.
                    return self.reject(request_id, &PublishRejection::AlreadyPublishing, out);
                }
                self.publishing = true;
                let key = stream_key.split('?').next().unwrap_or_default().to_owned();
                out.push(Output::PublishRequested { request_id, key });
                Ok(())
            }
            ServerSessionEvent::PublishStreamFinished { .. } => {
                out.push(Output::PublishFinished);
                Ok(())
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                self.media(
                    |demuxer, events| demuxer.push_video(timestamp.value, data, events),
                    out,
                );
                Ok(())
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                self.media(
                    |demuxer, events| demuxer.push_audio(timestamp.value, data, events),
                    out,
                );
                Ok(())
            }
            ServerSessionEvent::UnhandleableAmf0Command { command_name, .. }
                if command_name == "FCPublish" =>
            {
                let chunk_size = self.chunk_size as usize;
                send(out, guarded(|| on_fc_publish(chunk_size))??);
                Ok(())
            }
            ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
                let session = self.session()?;
                let results = guarded(|| {
                    session.reject_request(
                        request_id,
                        "NetStream.Play.Failed",
                        "playback is not offered",
                    )
                })??;
                self.results(results, out)?;
                Err(RtmpError::PlayNotSupported)
            }
            // releaseStream, FCUnpublish, metadata, acks, pings: nothing to do.
            _ => Ok(()),
        }
    }

    fn media(
        &mut self,
        push: impl FnOnce(&mut FlvDemuxer, &mut Vec<MediaEvent>) -> Result<(), FlvError>,
        out: &mut Vec<Output>,
    ) {
        let mut events = Vec::new();
        let result = push(&mut self.demuxer, &mut events);
        out.extend(events.into_iter().map(Output::Media));
        if let Err(e) = result {
            out.push(Output::MediaError(e));
        }
    }
}

fn send(out: &mut Vec<Output>, bytes: impl Into<Bytes>) {
    let bytes = bytes.into();
    if !bytes.is_empty() {
        out.push(Output::Send(bytes));
    }
}

/// Runs a call into rml_rtmp, turning a panic into [`RtmpError::Panic`].
fn guarded<T>(call: impl FnOnce() -> T) -> Result<T, RtmpError> {
    catch_unwind(AssertUnwindSafe(call)).map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        RtmpError::Panic(message)
    })
}
