//! Reads the tags of an FLV file (as ffmpeg writes it).

use anyhow::{Context, bail};
use bytes::Bytes;

#[derive(Clone)]
pub struct Tag {
    /// 8 audio, 9 video, 18 script data.
    pub kind: u8,
    pub timestamp_ms: u32,
    pub body: Bytes,
}

impl Tag {
    pub fn is_video(&self) -> bool {
        self.kind == 9
    }

    /// A video tag carrying coded frames (not a sequence header).
    pub fn is_video_frame(&self) -> bool {
        self.is_video() && self.body.len() > 1 && self.body[1] == 1
    }
}

pub fn read_tags(data: Bytes) -> anyhow::Result<Vec<Tag>> {
    if data.len() < 13 || &data[..3] != b"FLV" {
        bail!("not an FLV file");
    }
    let header_len = u32::from_be_bytes(data[5..9].try_into()?) as usize;
    let mut at = header_len + 4;
    let mut tags = Vec::new();
    while at + 11 <= data.len() {
        let kind = data[at] & 0x1f;
        let size = u32::from_be_bytes([0, data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let timestamp_ms =
            u32::from_be_bytes([data[at + 7], data[at + 4], data[at + 5], data[at + 6]]);
        let body_start = at + 11;
        let body = data
            .get(body_start..body_start + size)
            .context("truncated FLV tag")?;
        tags.push(Tag {
            kind,
            timestamp_ms,
            body: data.slice_ref(body),
        });
        at = body_start + size + 4;
    }
    Ok(tags)
}
