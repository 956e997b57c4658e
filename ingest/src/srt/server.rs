//! The SRT listener: binds once, vets each connection request, and runs one
//! task per accepted caller.
//!
//! srt-tokio runs its listener in an internal task; if that task dies (it
//! panicked on hostile handshakes before our patches to srt-protocol), its
//! stream of connection requests ends. `serve` then starts a new listener on
//! the same UDP socket (a duplicate of the descriptor bound once), so the
//! port is never lost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use srt_tokio::SrtListener;
use srt_tokio::options::{Passphrase, SocketOptions};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tracing::{error, info};

use super::{SrtError, SrtOptions, conn};
use crate::publish::PublishAuthorizer;

/// Pause before restarting a listener that stopped.
const RESTART_BACKOFF: Duration = Duration::from_millis(200);

/// Serves SRT publishers on `addr` until the returned future is dropped
/// (which also ends every connection).
pub async fn serve<A: PublishAuthorizer>(
    addr: SocketAddr,
    options: SrtOptions,
    auth: Arc<A>,
) -> Result<(), SrtError> {
    let passphrase = options
        .passphrase
        .map(Passphrase::try_from)
        .transpose()
        .map_err(|e| SrtError::Passphrase(e.to_string()))?;
    let mut socket_options = SocketOptions::default();
    socket_options.connect.local = addr;
    let socket = srt_tokio::bind_socket(&socket_options)
        .await
        .map_err(|source| SrtError::Bind { addr, source })?
        .into_std()?;

    let mut connections = JoinSet::new();
    loop {
        let udp = UdpSocket::from_std(socket.try_clone()?)?;
        let (_listener, mut incoming) = SrtListener::builder()
            .socket(udp)
            .latency(options.latency)
            .set(|o| o.encryption.passphrase = passphrase.clone())
            .bind(addr)
            .await?;
        info!(%addr, "srt: listening");
        let requests = incoming.incoming();
        loop {
            tokio::select! {
                request = requests.next() => match request {
                    Some(request) => {
                        connections.spawn(conn::run(request, Arc::clone(&auth)));
                    }
                    None => break,
                },
                Some(joined) = connections.join_next() => {
                    if let Err(e) = joined {
                        error!(error = %e, "srt: connection task failed");
                    }
                }
            }
        }
        error!(%addr, "srt: listener stopped unexpectedly; restarting it");
        tokio::time::sleep(RESTART_BACKOFF).await;
    }
}
