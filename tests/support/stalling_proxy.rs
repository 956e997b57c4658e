//! A TCP proxy that can hold every byte in both directions, as a stalled
//! network would, and let them go again.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct StallingProxy {
    addr: SocketAddr,
    stalled: Arc<AtomicBool>,
}

impl StallingProxy {
    /// A proxy to `upstream` (`host:port`) on a free local port.
    pub fn start(upstream: &str) -> StallingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listener");
        let addr = listener.local_addr().expect("proxy address");
        let stalled = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let flag = stalled.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    let flag = flag.clone();
                    std::thread::spawn(move || copy(from, to, &flag));
                }
            }
        });
        StallingProxy { addr, stalled }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Holds (true) or releases (false) all traffic.
    pub fn stall(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
    }
}

fn copy(mut from: TcpStream, mut to: TcpStream, stalled: &AtomicBool) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        while stalled.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while stalled.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}
