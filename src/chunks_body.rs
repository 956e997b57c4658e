//! A response body made of shared chunks (a segment is the list of its parts),
//! sent without copying, optionally cut to one byte range.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};

pub struct ChunksBody {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl ChunksBody {
    /// The bytes `start..end` of the concatenation of `chunks`.
    pub fn new(chunks: Vec<Bytes>, start: u64, end: u64) -> ChunksBody {
        let mut out = VecDeque::with_capacity(chunks.len());
        let mut offset = 0u64;
        for chunk in chunks {
            let len = chunk.len() as u64;
            let (from, to) = (start.max(offset), end.min(offset + len));
            if from < to {
                out.push_back(chunk.slice((from - offset) as usize..(to - offset) as usize));
            }
            offset += len;
        }
        ChunksBody {
            chunks: out,
            remaining: end.saturating_sub(start),
        }
    }
}

impl Body for ChunksBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunk = self.chunks.pop_front();
        if let Some(chunk) = &chunk {
            self.remaining -= chunk.len() as u64;
        }
        Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A single byte range out of a `Range` header, resolved against a length.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    Full,
    /// Bytes `start..end` (end exclusive).
    Partial(u64, u64),
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n`. A header this cannot use
/// (several ranges, another unit) means the whole body, as RFC 9110 allows.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.is_empty(), last.is_empty()) {
        (true, false) => last
            .parse::<u64>()
            .ok()
            .map(|n| (len.saturating_sub(n), len, n > 0)),
        (false, _) => first.parse::<u64>().ok().and_then(|a| {
            let end = if last.is_empty() {
                Some(len)
            } else {
                last.parse::<u64>()
                    .ok()
                    .map(|b| b.saturating_add(1).min(len))
            };
            end.map(|end| (a, end, a < len && a < end))
        }),
        (true, true) => None,
    };
    match parsed {
        Some((start, end, true)) => RangeRequest::Partial(start, end),
        Some(_) => RangeRequest::Unsatisfiable,
        None => RangeRequest::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), RangeRequest::Full);
        assert_eq!(
            parse_range(Some("bytes=0-3"), 10),
            RangeRequest::Partial(0, 4)
        );
        assert_eq!(
            parse_range(Some("bytes=5-"), 10),
            RangeRequest::Partial(5, 10)
        );
        assert_eq!(
            parse_range(Some("bytes=-4"), 10),
            RangeRequest::Partial(6, 10)
        );
        assert_eq!(
            parse_range(Some("bytes=8-100"), 10),
            RangeRequest::Partial(8, 10)
        );
        assert_eq!(
            parse_range(Some("bytes=10-"), 10),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse_range(Some("bytes=4-2"), 10),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=x-1"), 10), RangeRequest::Full);
    }

    #[tokio::test]
    async fn slices_across_chunks_without_copying() {
        let chunks = vec![
            Bytes::from_static(b"abc"),
            Bytes::from_static(b"defg"),
            Bytes::from_static(b"hi"),
        ];
        let body = ChunksBody::new(chunks.clone(), 2, 8);
        assert_eq!(body.size_hint().exact(), Some(6));
        assert_eq!(
            body.collect().await.unwrap().to_bytes(),
            Bytes::from_static(b"cdefgh")
        );
        let whole = ChunksBody::new(chunks, 0, 9)
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(whole, Bytes::from_static(b"abcdefghi"));
    }
}
