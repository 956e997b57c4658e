//! The RTMP listener: accepts connections and runs one task per connection.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{error, warn};

use super::conn;
use crate::publish::PublishAuthorizer;

/// Pause after a failed accept (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves RTMP publishers on `listener` until the returned future is dropped
/// (which also ends every connection). Returns only on a listener error that
/// retrying cannot fix.
pub async fn serve<A: PublishAuthorizer>(listener: TcpListener, auth: Arc<A>) -> io::Result<()> {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    connections.spawn(conn::run(stream, remote, Arc::clone(&auth)));
                }
                Err(e) if is_transient(&e) => {
                    warn!(error = %e, "rtmp: accept failed; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
                Err(e) => return Err(e),
            },
            Some(joined) = connections.join_next() => {
                if let Err(e) = joined {
                    error!(error = %e, "rtmp: connection task failed");
                }
            }
        }
    }
}

/// Accept errors that concern one connection or a passing resource shortage.
fn is_transient(e: &io::Error) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOMEM: i32 = 12;
    const ENOBUFS: i32 = 105;
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::OutOfMemory
    ) || matches!(e.raw_os_error(), Some(EMFILE | ENFILE | ENOMEM | ENOBUFS))
}
