//! Webhooks in tests: a receiver (a tiny HTTP/1.1 server on its own thread
//! that records every request and answers 500 to the first N, then 200), a
//! checker of `Tributary-Signature` headers, and API shortcuts.
//!
//! ```ignore
//! let receiver = WebhookReceiver::start(0);
//! let (_, secret) = subscribe(&server, &receiver.url(), &["video.ready"]).await;
//! let event = receiver.wait_for_event("video.ready", Duration::from_secs(60)).await;
//! assert!(verify_signature(event.header("tributary-signature").unwrap(), &event.body, &secret));
//! assert_eq!(event.json()["data"]["video"]["id"], id);
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Server, free_tcp_port, hex};

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// Names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON webhook body")
    }

    /// The `Tributary-Event` header.
    pub fn event_type(&self) -> &str {
        self.header("tributary-event").unwrap_or_default()
    }
}

struct Shared {
    requests: Mutex<Vec<Received>>,
    fail_first: usize,
    delay: Duration,
    stop: AtomicBool,
}

/// A webhook receiver on 127.0.0.1; stops when dropped.
pub struct WebhookReceiver {
    port: u16,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl WebhookReceiver {
    /// On a free port, answering 500 to the first `fail_first` requests.
    pub fn start(fail_first: usize) -> WebhookReceiver {
        WebhookReceiver::start_with(free_tcp_port(), fail_first, Duration::ZERO)
    }

    /// On `port` (one a subscribed URL names already, say).
    pub fn start_on(port: u16, fail_first: usize) -> WebhookReceiver {
        WebhookReceiver::start_with(port, fail_first, Duration::ZERO)
    }

    /// Waiting `delay` before each answer.
    pub fn start_with(port: u16, fail_first: usize, delay: Duration) -> WebhookReceiver {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("binding the webhook receiver on {port}: {e}"));
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let shared = Arc::new(Shared {
            requests: Mutex::default(),
            fail_first,
            delay,
            stop: AtomicBool::new(false),
        });
        let accepting = shared.clone();
        let thread = std::thread::spawn(move || {
            while !accepting.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let shared = accepting.clone();
                        std::thread::spawn(move || answer(stream, &shared));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        WebhookReceiver {
            port,
            shared,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits until `count` requests arrived; returns them all.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} requests, not {count}: {:?}",
                requests.len(),
                requests
                    .iter()
                    .map(Received::event_type)
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the first request carrying `event_type` (whatever it was answered).
    pub async fn wait_for_event(&self, event_type: &str, timeout: Duration) -> Received {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self
                .requests()
                .into_iter()
                .find(|r| r.event_type() == event_type)
            {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {event_type} event arrived; got {:?}",
                self.requests()
                    .iter()
                    .map(Received::event_type)
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request from `stream`, records it and answers it.
fn answer(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let status = {
        let mut requests = shared.requests.lock().unwrap();
        let status = if requests.len() < shared.fail_first {
            500
        } else {
            200
        };
        requests.push(Received {
            at: Instant::now(),
            method,
            path,
            headers,
            body,
            status,
        });
        status
    };
    std::thread::sleep(shared.delay);
    let (reason, text) = match status {
        200 => ("OK", "ok"),
        _ => ("Internal Server Error", "failing on purpose"),
    };
    let _ = write!(
        writer,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

/// Whether `header` (a `Tributary-Signature`) signs `body` with `secret`, at
/// a time within five minutes of now: what a receiver should check.
pub fn verify_signature(header: &str, body: &[u8], secret: &str) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v1)) => signatures.push(v1),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - timestamp).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let expected = hex(&mac.finalize().into_bytes());
    signatures.contains(&expected.as_str())
}

/// Subscribes `url` to `events`; returns the endpoint's id and secret.
pub async fn subscribe(server: &Server, url: &str, events: &[&str]) -> (String, String) {
    let (status, created) = server
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({ "url": url, "events": events })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    (
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// The endpoint's recent deliveries, newest first.
pub async fn deliveries(server: &Server, webhook_id: &str) -> Vec<Value> {
    let (status, list) = server
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{webhook_id}/deliveries"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    list.as_array().expect("a list of deliveries").clone()
}

/// Polls the endpoint's deliveries until `done` holds for them; returns them.
pub async fn wait_deliveries(
    server: &Server,
    webhook_id: &str,
    timeout: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let list = deliveries(server, webhook_id).await;
        if done(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "the deliveries never got there: {list:#?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
