//! `GET /api/v1/streams/{id}/chat`: the chat WebSocket. The socket task only
//! moves bytes between the socket and its `chat::Session`: it writes what the
//! room queued for it in one frame, drops a client that fell behind, pings,
//! and closes dead connections.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chat::names::valid_viewer_id;
use chat::{ErrorCode, JoinRequest, Role, User};
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::{Instant, timeout};
use tracing::debug;

use super::{ChatHub, moderators};
use crate::api::{ApiError, ApiState};

/// Chat frames are small: a few KiB of buffers per socket, not tungstenite's
/// 128 KiB, so 20,000 idle clients fit in little memory.
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 4 * 1024;
/// Largest frame a client may send (a command with a long message).
const MAX_FRAME: usize = 16 * 1024;
/// A client whose socket takes this long to accept a frame is gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENT_FOR: Duration = Duration::from_secs(60);
/// Most events written in one frame.
const MAX_BATCH: usize = 256;

#[derive(Deserialize)]
pub struct ChatQuery {
    name: Option<String>,
    token: Option<String>,
    since: Option<u64>,
    viewer: Option<String>,
}

/// Who the query string says the client is, or why it cannot join.
enum Identity {
    Joins(Option<User>, Option<String>),
    Refused(chat::JoinError),
}

pub async fn chat_socket(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Query(query): Query<ChatQuery>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if !crate::ids::is_id(&id) || state.db.stream(&id).await?.is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such stream"));
    }
    if query.viewer.as_deref().is_some_and(|v| !valid_viewer_id(v)) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "viewer must be 8 to 64 letters, digits, _ or -",
        ));
    }
    let identity = identify(&state, &id, &query).await?;
    let hub = state.chat.clone();
    let request = JoinRequest {
        user: None,
        moderator_id: None,
        ip: remote.ip(),
        viewer: query.viewer,
        since: query.since,
    };
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            match identity {
                Identity::Joins(user, moderator_id) => {
                    let request = JoinRequest {
                        user,
                        moderator_id,
                        ..request
                    };
                    serve(socket, hub, id, request).await;
                }
                Identity::Refused(refusal) => refuse(socket, &refusal).await,
            }
        })
        .into_response())
}

async fn identify(
    state: &ApiState,
    stream_id: &str,
    query: &ChatQuery,
) -> Result<Identity, ApiError> {
    let Some(token) = &query.token else {
        return Ok(Identity::Joins(
            query.name.as_ref().map(|name| User {
                name: name.as_str().into(),
                role: Role::Viewer,
            }),
            None,
        ));
    };
    let (role, name, moderator_id) = if crate::api::is_admin_token(state, token) {
        let name = query
            .name
            .clone()
            .unwrap_or_else(|| Role::Broadcaster.default_name().into());
        (Role::Broadcaster, name, None)
    } else {
        match moderators::by_token(&state.db, stream_id, token).await? {
            Some(moderator) => (Role::Moderator, moderator.name, Some(moderator.id)),
            None => {
                return Ok(Identity::Refused(chat::JoinError {
                    code: ErrorCode::Unauthorized,
                    close_code: 4001,
                    message: "wrong or revoked token".into(),
                }));
            }
        }
    };
    Ok(Identity::Joins(
        Some(User {
            name: name.into(),
            role,
        }),
        moderator_id,
    ))
}

async fn refuse(mut socket: WebSocket, refusal: &chat::JoinError) {
    let _ = send(&mut socket, refusal.event()).await;
    close(&mut socket, refusal.close_code, code_name(refusal.code)).await;
}

fn code_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::BadName => "bad_name",
        ErrorCode::Unauthorized => "unauthorized",
        ErrorCode::Banned => "banned",
        ErrorCode::NameTaken => "name_taken",
        _ => "error",
    }
}

async fn send(socket: &mut WebSocket, bytes: Bytes) -> Result<(), ()> {
    // The chat only ever produces UTF-8 JSON; a failure here is a bug, not input.
    let text = Utf8Bytes::try_from(bytes).map_err(|_| ())?;
    match timeout(SEND_TIMEOUT, socket.send(Message::Text(text))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}

async fn serve(mut socket: WebSocket, hub: ChatHub, room: String, request: JoinRequest) {
    let mut session = match hub.join(&room, request).await {
        Ok(session) => session,
        Err(refusal) => return refuse(socket, &refusal).await,
    };
    if let Some(welcome) = session.take_welcome()
        && send(&mut socket, welcome).await.is_err()
    {
        return;
    }
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_heard = Instant::now();
    let mut batch: Vec<Bytes> = Vec::new();
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { break };
                last_heard = Instant::now();
                let reply = match message {
                    Message::Text(text) => session.command(text.as_str()).await,
                    Message::Binary(_) => Some(chat::protocol::Event::Error {
                        code: ErrorCode::BadRequest,
                        message: "send commands as text frames",
                        retry_after_secs: None,
                    }.encode()),
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => None,
                };
                if let Some(reply) = reply
                    && send(&mut socket, reply).await.is_err()
                {
                    break;
                }
            }
            event = session.events.recv() => {
                let first = match event {
                    Ok(first) => first,
                    Err(RecvError::Lagged(missed)) => {
                        debug!(room, missed, "dropping a chat client that fell behind");
                        close(&mut socket, 4008, "too slow: outbound queue full").await;
                        break;
                    }
                    Err(RecvError::Closed) => break,
                };
                batch.push(first);
                let mut lagged = false;
                while batch.len() < MAX_BATCH {
                    match session.events.try_recv() {
                        Ok(more) => batch.push(more),
                        Err(TryRecvError::Lagged(_)) => { lagged = true; break; }
                        Err(_) => break,
                    }
                }
                let frame = if batch.len() == 1 { batch.pop().unwrap_or_default() } else { chat::protocol::frame(&batch) };
                batch.clear();
                if lagged {
                    close(&mut socket, 4008, "too slow: outbound queue full").await;
                    break;
                }
                if send(&mut socket, frame).await.is_err() {
                    break;
                }
            }
            changed = session.closed.changed() => {
                let server_close = session.closed.borrow().clone();
                if let (Ok(()), Some(server_close)) = (changed, server_close) {
                    if let Some(event) = server_close.event {
                        let _ = send(&mut socket, event).await;
                    }
                    close(&mut socket, server_close.code, server_close.reason).await;
                }
                break;
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENT_FOR {
                    close(&mut socket, 1001, "no answer to pings").await;
                    break;
                }
                if timeout(SEND_TIMEOUT, socket.send(Message::Ping(Bytes::new()))).await.is_err() {
                    break;
                }
            }
        }
    }
}
