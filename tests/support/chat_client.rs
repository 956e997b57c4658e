//! A chat client speaking the protocol of docs/chat.md over a real
//! WebSocket (tokio-tungstenite), for the chat, chat page and chat replay
//! tests.

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::Server;

/// The longest `next` waits for an event (the machine may be busy
/// publishing and transcoding beside the chat).
const WAIT: Duration = Duration::from_secs(20);

/// A chat client speaking the protocol of docs/chat.md.
pub struct ChatClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Events of frames already read, one per line.
    pending: VecDeque<Value>,
    /// How many frames held more than one event.
    pub batched_frames: usize,
}

impl ChatClient {
    pub async fn connect(server: &Server, stream: &str, query: &str) -> ChatClient {
        ChatClient::try_connect(server, stream, query)
            .await
            .unwrap_or_else(|e| panic!("chat connect ?{query}: {e}"))
    }

    pub async fn try_connect(
        server: &Server,
        stream: &str,
        query: &str,
    ) -> Result<ChatClient, tokio_tungstenite::tungstenite::Error> {
        let url = format!("ws://{}/api/v1/streams/{stream}/chat?{query}", server.http);
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(ChatClient {
            ws,
            pending: VecDeque::new(),
            batched_frames: 0,
        })
    }

    /// Joins and reads the welcome frame; returns its history event.
    pub async fn join(server: &Server, stream: &str, query: &str) -> (ChatClient, Value) {
        let mut client = ChatClient::connect(server, stream, query).await;
        let joined = client.next().await;
        assert_eq!(joined["type"], "joined", "{joined}");
        let history = client.next_of("history").await;
        (client, history)
    }

    /// The next event, or a panic after a few seconds.
    pub async fn next(&mut self) -> Value {
        self.try_next(WAIT).await.expect("a chat event")
    }

    pub async fn try_next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        while self.pending.is_empty() {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match frame.expect("a frame") {
                Message::Text(text) => {
                    let lines: Vec<&str> = text.as_str().split('\n').collect();
                    if lines.len() > 1 {
                        self.batched_frames += 1;
                    }
                    for line in lines {
                        self.pending.push_back(
                            serde_json::from_str(line).expect("one JSON event per line"),
                        );
                    }
                }
                Message::Close(frame) => panic!("closed by the server: {frame:?}"),
                _ => {}
            }
        }
        self.pending.pop_front()
    }

    /// The next event of this type; viewer counts and other types in between are skipped.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let event = self.next().await;
            if event["type"] == kind {
                return event;
            }
        }
    }

    /// The next message event with this text (others are skipped).
    pub async fn message_saying(&mut self, text: &str) -> Value {
        loop {
            let message = self.next_of("message").await;
            if message["text"] == text {
                return message;
            }
        }
    }

    pub async fn send(&mut self, command: Value) {
        self.ws
            .send(Message::text(command.to_string()))
            .await
            .expect("send");
    }

    pub async fn say(&mut self, text: &str) {
        self.send(json!({"type": "message", "text": text})).await;
    }

    /// The error code the next error event carries.
    pub async fn error_code(&mut self) -> String {
        self.next_of("error").await["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Reads until the server closes; returns its close frame.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => return frame,
                Ok(Some(Ok(Message::Text(text)))) => {
                    for line in text.as_str().split('\n') {
                        self.pending.push_back(serde_json::from_str(line).unwrap());
                    }
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => return None,
                Err(_) => panic!("the server did not close the connection"),
            }
        }
    }
}
