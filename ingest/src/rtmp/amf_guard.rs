//! Vets AMF messages before rml_rtmp parses them.
//!
//! rml_amf0 parses nested objects and arrays recursively, so a few kilobytes
//! of nested strict arrays overflow the stack, which aborts the whole
//! process (no `catch_unwind` helps). rml_rtmp's `ServerSession` only takes
//! raw bytes, so this guard follows the same chunk stream with its own
//! rml_rtmp `ChunkDeserializer` (kept in step by applying the same chunk size
//! changes) and checks the nesting depth of every AMF message with an
//! iterative scan. The price is a second copy of each message.

use rml_rtmp::chunk_io::ChunkDeserializer;
use rml_rtmp::messages::{MessagePayload, RtmpMessage};

use super::RtmpError;

/// Deepest AMF nesting accepted; real clients send 2 or 3 levels.
pub(super) const MAX_AMF_DEPTH: usize = 16;

const TYPE_SET_CHUNK_SIZE: u8 = 1;
const TYPE_AMF3_DATA: u8 = 15;
const TYPE_AMF3_COMMAND: u8 = 17;
const TYPE_AMF0_DATA: u8 = 18;
const TYPE_AMF0_COMMAND: u8 = 20;

/// Follows the inbound chunk stream; see the [module docs](self).
pub(super) struct AmfGuard {
    chunks: ChunkDeserializer,
}

impl AmfGuard {
    pub(super) fn new() -> Self {
        Self {
            chunks: ChunkDeserializer::new(),
        }
    }

    /// Checks the messages completed by `data` (the same bytes the session gets next).
    pub(super) fn check(&mut self, data: &[u8]) -> Result<(), RtmpError> {
        let mut input = data;
        while let Some(message) = self.chunks.get_next_message(input)? {
            input = &[];
            self.check_message(&message)?;
        }
        Ok(())
    }

    fn check_message(&mut self, message: &MessagePayload) -> Result<(), RtmpError> {
        let amf = match message.type_id {
            TYPE_SET_CHUNK_SIZE => {
                if let Ok(RtmpMessage::SetChunkSize { size }) = message.to_rtmp_message() {
                    self.chunks.set_max_chunk_size(size as usize)?;
                }
                return Ok(());
            }
            // rml_rtmp reads "AMF3" commands as AMF0 after an optional zero byte.
            TYPE_AMF3_COMMAND => message.data.strip_prefix(&[0]).unwrap_or(&message.data),
            TYPE_AMF3_DATA | TYPE_AMF0_DATA | TYPE_AMF0_COMMAND => &message.data[..],
            _ => return Ok(()),
        };
        if amf0_depth_within(amf, MAX_AMF_DEPTH) {
            Ok(())
        } else {
            Err(RtmpError::AmfTooDeep)
        }
    }
}

/// A container being scanned.
enum Container {
    /// Object or ECMA array: label/value pairs until an empty label.
    Object,
    /// Strict array with this many values left.
    Array(u32),
}

/// Whether AMF0 values in `data` nest at most `max` containers deep, scanning
/// the way rml_amf0 parses. Malformed or unknown input ends the scan early:
/// rml_amf0 stops with an error at the same point, no deeper than seen.
fn amf0_depth_within(mut data: &[u8], max: usize) -> bool {
    let mut stack: Vec<Container> = Vec::new();
    loop {
        match stack.last_mut() {
            Some(Container::Object) => {
                let Some(label_len) =
                    take(&mut data, 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                else {
                    return true;
                };
                if label_len == 0 {
                    // The end marker (rml_amf0 fails if it is anything else).
                    if take(&mut data, 1).is_none() {
                        return true;
                    }
                    stack.pop();
                    continue;
                }
                if take(&mut data, label_len).is_none() {
                    return true;
                }
            }
            Some(Container::Array(0)) => {
                stack.pop();
                continue;
            }
            Some(Container::Array(left)) => *left -= 1,
            None => {}
        }
        let Some(&[marker]) = take(&mut data, 1) else {
            return true;
        };
        let skip = match marker {
            0x00 => 8, // number
            0x01 => 1, // boolean
            0x02 => match take(&mut data, 2) {
                // string
                Some(b) => usize::from(u16::from_be_bytes([b[0], b[1]])),
                None => return true,
            },
            0x05 | 0x06 => 0, // null, undefined
            0x03 => {
                stack.push(Container::Object);
                0
            }
            0x08 => {
                stack.push(Container::Object);
                4 // the (ignored) ECMA array count
            }
            0x0a => match take(&mut data, 4) {
                Some(b) => {
                    stack.push(Container::Array(u32::from_be_bytes([
                        b[0], b[1], b[2], b[3],
                    ])));
                    0
                }
                None => return true,
            },
            0x09 if matches!(stack.last(), Some(Container::Array(_))) => {
                // rml_amf0 ends a strict array early at an object end marker.
                stack.pop();
                0
            }
            _ => return true, // rml_amf0 stops here with an error (or at the end)
        };
        if stack.len() > max {
            return false;
        }
        if take(&mut data, skip).is_none() {
            return true;
        }
    }
}

/// Splits `n` bytes off the front of `data`.
fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if data.len() < n {
        return None;
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rml_rtmp::rml_amf0::{Amf0Value, serialize};
    use std::collections::HashMap;

    fn nested_arrays(depth: usize) -> Vec<u8> {
        let mut data = vec![0x02, 0, 7];
        data.extend(b"connect");
        for _ in 0..depth {
            data.extend([0x0a, 0, 0, 0, 1]);
        }
        data
    }

    #[test]
    fn real_commands_pass() {
        let mut props = HashMap::new();
        props.insert("app".to_owned(), Amf0Value::Utf8String("live".to_owned()));
        let mut inner = HashMap::new();
        inner.insert(
            "x".to_owned(),
            Amf0Value::StrictArray(vec![Amf0Value::Number(1.0), Amf0Value::Null]),
        );
        props.insert("nested".to_owned(), Amf0Value::Object(inner));
        let data = serialize(&vec![
            Amf0Value::Utf8String("connect".to_owned()),
            Amf0Value::Number(1.0),
            Amf0Value::Object(props),
            Amf0Value::Boolean(true),
        ])
        .unwrap();
        // connect object > nested object > strict array.
        assert!(amf0_depth_within(&data, 3));
        assert!(!amf0_depth_within(&data, 2));
        for len in 0..data.len() {
            assert!(amf0_depth_within(&data[..len], 3));
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        assert!(amf0_depth_within(
            &nested_arrays(MAX_AMF_DEPTH),
            MAX_AMF_DEPTH
        ));
        assert!(!amf0_depth_within(
            &nested_arrays(MAX_AMF_DEPTH + 1),
            MAX_AMF_DEPTH
        ));
        assert!(!amf0_depth_within(&nested_arrays(100_000), MAX_AMF_DEPTH));
        let mut objects = vec![];
        for _ in 0..100 {
            objects.extend([0x03, 0, 1, b'a']);
        }
        assert!(!amf0_depth_within(&objects, MAX_AMF_DEPTH));
        // Closed containers do not add up.
        let mut siblings = vec![];
        for _ in 0..100 {
            siblings.extend([0x03, 0, 0, 0x09, 0x0a, 0, 0, 0, 0]);
        }
        assert!(amf0_depth_within(&siblings, 1));
    }

    #[test]
    fn guard_follows_chunks() {
        // A type 20 message on csid 3, split at the default chunk size of 128.
        let payload = nested_arrays(5000);
        let bytes = crate::testdata::rtmp_message(3, 20, 0, &payload);
        let mut guard = AmfGuard::new();
        let (head, tail) = bytes.split_at(1000);
        assert!(guard.check(head).is_ok());
        assert!(matches!(guard.check(tail), Err(RtmpError::AmfTooDeep)));
    }
}
