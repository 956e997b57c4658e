//! The client side of tus 1.0.0 as `video upload` uses it: creation, HEAD
//! for the server's (durable) offset, and PATCH of one checksummed chunk.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use super::chunk::Chunk;
use crate::vod::tus::headers::{OFFSET_OCTET_STREAM, TUS_VERSION, parse_count};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// For requests without a large body (creation, HEAD). A PATCH has none:
/// its time depends on the link, and a dead peer shows as a reset or
/// through keepalive.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Why a request did not move the upload on.
pub enum Failure {
    /// Worth another try after a pause, from the server's offset: the
    /// network, a 5xx, a conflict, a busy upload, a corrupted chunk.
    Retry(anyhow::Error),
    /// The upload URL no longer leads to the upload: it was removed (404),
    /// expired (410), or its signature broke with a new admin token (403).
    Gone,
    /// Trying again will not help.
    Fatal(anyhow::Error),
}

pub struct Tus {
    http: reqwest::Client,
}

impl Tus {
    pub fn new() -> anyhow::Result<Tus> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(KEEPALIVE)
            .build()
            .context("setting up the HTTP client")?;
        Ok(Tus { http })
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http
            .request(method, url)
            .header("Tus-Resumable", TUS_VERSION)
    }

    /// Creates an upload of `length` bytes at a video's creation URL and
    /// returns the upload's URL.
    pub async fn create(
        &self,
        creation_url: &str,
        length: u64,
        filename: &str,
    ) -> anyhow::Result<String> {
        let response = self
            .request(Method::POST, creation_url)
            .header("Upload-Length", length)
            .header(
                "Upload-Metadata",
                format!("filename {}", STANDARD.encode(filename)),
            )
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| e.without_url())
            .context("creating the upload")?;
        if response.status() != StatusCode::CREATED {
            bail!("creating the upload: {}", refusal(response).await);
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .context("the server created the upload but sent no Location")?;
        // Location may be relative to the creation URL.
        let url = Url::parse(creation_url)
            .and_then(|base| base.join(location))
            .context("the server sent an invalid Location")?;
        Ok(url.into())
    }

    /// The server's offset of an upload.
    pub async fn offset(&self, url: &str) -> Result<u64, Failure> {
        let response = self
            .request(Method::HEAD, url)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(network)?;
        if response.status() != StatusCode::OK {
            return Err(failure(response).await);
        }
        offset(&response)
    }

    /// Sends `chunk` (`body`) and returns the server's new offset.
    pub async fn patch(
        &self,
        url: &str,
        chunk: &Chunk,
        body: reqwest::Body,
    ) -> Result<u64, Failure> {
        let response = self
            .request(Method::PATCH, url)
            .header("Content-Type", OFFSET_OCTET_STREAM)
            .header("Content-Length", chunk.length)
            .header("Upload-Offset", chunk.offset)
            .header(
                "Upload-Checksum",
                format!("sha256 {}", STANDARD.encode(chunk.sha256)),
            )
            .body(body)
            .send()
            .await
            .map_err(network)?;
        if response.status() != StatusCode::NO_CONTENT {
            return Err(failure(response).await);
        }
        let next = offset(&response)?;
        if next <= chunk.offset {
            return Err(Failure::Retry(anyhow!(
                "the server took none of the chunk at {}",
                chunk.offset
            )));
        }
        Ok(next)
    }
}

/// A request that did not get an answer: the URL is left out of the
/// message, as its signature lets anyone upload.
fn network(e: reqwest::Error) -> Failure {
    Failure::Retry(anyhow::Error::new(e.without_url()).context("connection to the server failed"))
}

fn offset(response: &Response) -> Result<u64, Failure> {
    response
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_count("Upload-Offset", v).ok())
        .ok_or_else(|| Failure::Fatal(anyhow!("the server's answer has no valid Upload-Offset")))
}

async fn failure(response: Response) -> Failure {
    let status = response.status();
    let retry = status.is_server_error() || [409, 408, 423, 429, 460].contains(&status.as_u16());
    let message = refusal(response).await;
    match status {
        StatusCode::NOT_FOUND | StatusCode::GONE | StatusCode::FORBIDDEN => Failure::Gone,
        _ if retry => Failure::Retry(anyhow!("the server answered {message}")),
        _ => Failure::Fatal(anyhow!("the server refused the upload: {message}")),
    }
}

/// `STATUS: the server's message`.
async fn refusal(response: Response) -> String {
    let status = response.status();
    // tus's own statuses (460) have no standard reason phrase.
    let status = match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    };
    let text = response.text().await.unwrap_or_default();
    let text: String = text.trim().chars().take(300).collect();
    if text.is_empty() {
        status
    } else {
        format!("{status}: {text}")
    }
}
