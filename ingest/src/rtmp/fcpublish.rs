//! The `onFCPublish` reply OBS and other encoders expect after `FCPublish`.
//!
//! rml_rtmp's `ServerSession` does not answer `FCPublish` and offers no way
//! to send an arbitrary command through its chunk serializer, so this builds
//! the chunk itself on a chunk stream id the session never uses, with a full
//! (type 0) header, which leaves the session's header compression intact.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use rml_rtmp::rml_amf0::{Amf0SerializationError, Amf0Value, serialize};

/// rml_rtmp's serializer uses chunk stream ids 2 to 6.
const CSID: u8 = 7;
const TYPE_AMF0_COMMAND: u8 = 20;

/// The chunk(s) carrying `onFCPublish(0, null, {NetStream.Publish.Start})`,
/// split at `chunk_size` (the session's outbound chunk size).
pub(super) fn on_fc_publish(chunk_size: usize) -> Result<Bytes, Amf0SerializationError> {
    let mut status = HashMap::new();
    status.insert(
        "level".to_owned(),
        Amf0Value::Utf8String("status".to_owned()),
    );
    status.insert(
        "code".to_owned(),
        Amf0Value::Utf8String("NetStream.Publish.Start".to_owned()),
    );
    status.insert(
        "description".to_owned(),
        Amf0Value::Utf8String("FCPublish".to_owned()),
    );
    let payload = serialize(&vec![
        Amf0Value::Utf8String("onFCPublish".to_owned()),
        Amf0Value::Number(0.0),
        Amf0Value::Null,
        Amf0Value::Object(status),
    ])?;

    let mut out = BytesMut::with_capacity(payload.len() + 16);
    out.put_u8(CSID); // fmt 0
    out.put_uint(0, 3); // timestamp
    // A fixed, small command: its length fits in 24 bits.
    out.put_uint(payload.len() as u64, 3);
    out.put_u8(TYPE_AMF0_COMMAND);
    out.put_u32_le(0); // message stream id
    for (i, piece) in payload.chunks(chunk_size.max(1)).enumerate() {
        if i > 0 {
            out.put_u8(0xc0 | CSID); // fmt 3 continuation
        }
        out.put_slice(piece);
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rml_rtmp::chunk_io::ChunkDeserializer;
    use rml_rtmp::messages::RtmpMessage;

    #[test]
    fn parses_back_as_on_fc_publish() {
        for chunk_size in [4096, 16] {
            let bytes = on_fc_publish(chunk_size).unwrap();
            let mut chunks = ChunkDeserializer::new();
            chunks.set_max_chunk_size(chunk_size).unwrap();
            let message = chunks.get_next_message(&bytes).unwrap().unwrap();
            let RtmpMessage::Amf0Command {
                command_name,
                additional_arguments,
                ..
            } = message.to_rtmp_message().unwrap()
            else {
                panic!("not a command");
            };
            assert_eq!(command_name, "onFCPublish");
            let [Amf0Value::Object(status)] = &additional_arguments[..] else {
                panic!("{additional_arguments:?}")
            };
            assert_eq!(
                status["code"],
                Amf0Value::Utf8String("NetStream.Publish.Start".to_owned())
            );
        }
    }
}
