//! An RTMP publisher that sends FLV tags in real time and records the instant
//! each video frame left the socket.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::flv_file::Tag;

struct Connection {
    tcp: TcpStream,
    session: ClientSession,
    buf: Vec<u8>,
}

/// (FLV timestamp in ms, when it was written) of every video frame sent.
pub type SendTimes = Vec<(u32, Instant)>;

pub async fn publish(addr: SocketAddr, key: &str, tags: &[Tag]) -> anyhow::Result<SendTimes> {
    let mut tcp = TcpStream::connect(addr)
        .await
        .context("connecting to RTMP")?;
    tcp.set_nodelay(true)?;
    let mut handshake = Handshake::new(PeerType::Client);
    tcp.write_all(&handshake.generate_outbound_p0_and_p1()?)
        .await?;
    let mut buf = vec![0u8; 64 * 1024];
    let leftover = loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            bail!("server closed the connection during the handshake");
        }
        match handshake.process_bytes(&buf[..n])? {
            HandshakeProcessResult::InProgress { response_bytes } => {
                tcp.write_all(&response_bytes).await?
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                tcp.write_all(&response_bytes).await?;
                break remaining_bytes;
            }
        }
    };
    let (session, results) = ClientSession::new(ClientSessionConfig::new())?;
    let mut conn = Connection { tcp, session, buf };
    conn.send(results).await?;
    let results = conn.session.handle_input(&leftover)?;
    conn.send(results).await?;
    let request = conn.session.request_connection("live".into())?;
    conn.send(vec![request]).await?;
    conn.wait_for(|e| matches!(e, ClientSessionEvent::ConnectionRequestAccepted))
        .await?;
    let request = conn
        .session
        .request_publishing(key.into(), PublishRequestType::Live)?;
    conn.send(vec![request]).await?;
    conn.wait_for(|e| matches!(e, ClientSessionEvent::PublishRequestAccepted))
        .await?;

    let start = tokio::time::Instant::now();
    let mut sent = SendTimes::with_capacity(tags.len());
    for tag in tags {
        let due = start + Duration::from_millis(tag.timestamp_ms as u64);
        while tokio::time::Instant::now() < due {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                read = conn.tcp.read(&mut conn.buf) => {
                    let n = read?;
                    if n == 0 { bail!("server closed the connection") }
                    let results = conn.session.handle_input(&conn.buf[..n])?;
                    conn.send(results).await?;
                }
            }
        }
        let timestamp = RtmpTimestamp::new(tag.timestamp_ms);
        let result = match tag.kind {
            8 => conn
                .session
                .publish_audio_data(tag.body.clone(), timestamp, false)?,
            9 => conn
                .session
                .publish_video_data(tag.body.clone(), timestamp, false)?,
            _ => continue,
        };
        conn.send(vec![result]).await?;
        if tag.is_video_frame() {
            sent.push((tag.timestamp_ms, Instant::now()));
        }
    }
    Ok(sent)
}

impl Connection {
    async fn send(
        &mut self,
        results: Vec<ClientSessionResult>,
    ) -> anyhow::Result<Vec<ClientSessionEvent>> {
        let mut events = Vec::new();
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => {
                    self.tcp.write_all(&packet.bytes).await?
                }
                ClientSessionResult::RaisedEvent(event) => events.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(events)
    }

    async fn wait_for(
        &mut self,
        wanted: impl Fn(&ClientSessionEvent) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let n = tokio::time::timeout_at(deadline, self.tcp.read(&mut self.buf))
                .await
                .context("RTMP server did not answer")??;
            if n == 0 {
                bail!("server closed the connection");
            }
            let results = self.session.handle_input(&self.buf[..n])?;
            for event in self.send(results).await? {
                if let ClientSessionEvent::ConnectionRequestRejected { description } = &event {
                    bail!("connection rejected: {description}");
                }
                if wanted(&event) {
                    return Ok(());
                }
            }
        }
    }
}
