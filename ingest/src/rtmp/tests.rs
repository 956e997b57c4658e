//! The RTMP session driven in memory by rml_rtmp's client.

use bytes::{BufMut, Bytes, BytesMut};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;

use super::RtmpError;
use super::session::{Output, RtmpSession};
use crate::h264;
use crate::media::{MediaEvent, VideoCodec};
use crate::publish::PublishRejection;
use crate::testdata::{PPS_320X240_HIGH, SPS_320X240_HIGH};

struct Pair {
    server: RtmpSession,
    client: ClientSession,
    /// Non-`Send` outputs of the server, in order.
    outputs: Vec<Output>,
    client_events: Vec<ClientSessionEvent>,
    error: Option<RtmpError>,
}

impl Pair {
    /// Handshakes both sides.
    fn new() -> Self {
        let mut server = RtmpSession::new();
        let mut handshake = Handshake::new(PeerType::Client);
        let c0c1 = handshake.generate_outbound_p0_and_p1().unwrap();
        let mut out = Vec::new();
        server.handle_input(&c0c1, &mut out).unwrap();
        let s0s1s2 = sent(&mut out);
        let HandshakeProcessResult::Completed {
            response_bytes: c2, ..
        } = handshake.process_bytes(&s0s1s2).unwrap()
        else {
            panic!("client handshake incomplete")
        };
        let (client, _) = ClientSession::new(ClientSessionConfig::new()).unwrap();
        let mut pair = Self {
            server,
            client,
            outputs: Vec::new(),
            client_events: Vec::new(),
            error: None,
        };
        pair.send_to_server(&c2);
        pair
    }

    /// Sends bytes to the server and relays all replies until both are quiet.
    fn send_to_server(&mut self, bytes: &[u8]) {
        let mut out = Vec::new();
        if let Err(e) = self.server.handle_input(bytes, &mut out) {
            self.error = Some(e);
        }
        self.relay(out);
    }

    fn relay(&mut self, out: Vec<Output>) {
        let mut replies = Vec::new();
        for output in out {
            match output {
                Output::Send(bytes) => replies.extend_from_slice(&bytes),
                other => self.outputs.push(other),
            }
        }
        if replies.is_empty() {
            return;
        }
        let mut back = Vec::new();
        for result in self.client.handle_input(&replies).unwrap() {
            match result {
                ClientSessionResult::OutboundResponse(packet) => back.extend(packet.bytes),
                ClientSessionResult::RaisedEvent(event) => self.client_events.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        if !back.is_empty() {
            self.send_to_server(&back);
        }
    }

    fn client_sends(&mut self, result: ClientSessionResult) {
        let ClientSessionResult::OutboundResponse(packet) = result else {
            panic!("nothing to send")
        };
        self.send_to_server(&packet.bytes);
    }

    fn connect(&mut self, app: &str) {
        let request = self.client.request_connection(app.to_owned()).unwrap();
        self.client_sends(request);
    }

    /// Connects to `live` and asks to publish `key`; returns the request id.
    fn request_publish(&mut self, key: &str) -> u32 {
        self.connect("live");
        assert!(
            self.client_events
                .contains(&ClientSessionEvent::ConnectionRequestAccepted)
        );
        let request = self
            .client
            .request_publishing(key.to_owned(), PublishRequestType::Live)
            .unwrap();
        self.client_sends(request);
        match self.outputs.pop() {
            Some(Output::PublishRequested {
                request_id,
                key: requested,
            }) => {
                assert_eq!(requested, key.split('?').next().unwrap());
                request_id
            }
            other => panic!("expected a publish request, got {other:?}"),
        }
    }

    fn publish(&mut self, key: &str) {
        let request_id = self.request_publish(key);
        let mut out = Vec::new();
        self.server.accept_publish(request_id, &mut out).unwrap();
        self.relay(out);
        assert!(
            self.client_events
                .contains(&ClientSessionEvent::PublishRequestAccepted)
        );
    }
}

fn sent(out: &mut Vec<Output>) -> Vec<u8> {
    out.drain(..)
        .flat_map(|o| match o {
            Output::Send(bytes) => bytes.to_vec(),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn avc_sequence_header() -> Bytes {
    let record = h264::build_avcc(&SPS_320X240_HIGH, &[&PPS_320X240_HIGH]).unwrap();
    let mut tag = BytesMut::from(&[0x17, 0, 0, 0, 0][..]);
    tag.put_slice(&record);
    tag.freeze()
}

#[test]
fn publish_flow_yields_media() {
    let mut pair = Pair::new();
    pair.publish("good?token=1");
    let header = pair
        .client
        .publish_video_data(avc_sequence_header(), RtmpTimestamp::new(0), false)
        .unwrap();
    pair.client_sends(header);
    let frame = Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88]);
    let frame = pair
        .client
        .publish_video_data(frame, RtmpTimestamp::new(40), false)
        .unwrap();
    pair.client_sends(frame);
    assert!(pair.error.is_none(), "{:?}", pair.error);
    match &pair.outputs[..] {
        [
            Output::Media(MediaEvent::Video(config)),
            Output::Media(MediaEvent::Frame(frame)),
        ] => {
            assert_eq!(
                (config.codec, config.width, config.height),
                (VideoCodec::H264, 320, 240)
            );
            assert_eq!((frame.dts, frame.keyframe), (3600, true));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_apps_are_rejected() {
    let mut pair = Pair::new();
    pair.connect("vod");
    assert!(
        matches!(pair.error, Some(RtmpError::Rejected(PublishRejection::UnknownApp(ref app))) if app == "vod")
    );
    assert!(
        pair.client_events
            .iter()
            .any(|e| matches!(e, ClientSessionEvent::ConnectionRequestRejected { .. }))
    );
}

#[test]
fn rejected_publish_is_told_to_the_client() {
    let mut pair = Pair::new();
    let request_id = pair.request_publish("bad");
    let mut out = Vec::new();
    pair.server
        .reject_publish(request_id, &PublishRejection::UnknownKey, &mut out)
        .unwrap();
    assert!(matches!(&out[..], [Output::Send(_)]));
}

#[test]
fn deeply_nested_amf_is_refused_without_overflowing() {
    let mut pair = Pair::new();
    let mut payload = vec![0x02, 0, 7];
    payload.extend(b"connect");
    payload.extend([0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
    for _ in 0..50_000 {
        payload.extend([0x0a, 0, 0, 0, 1]);
    }
    let bytes = crate::testdata::rtmp_message(3, 20, 0, &payload);
    pair.send_to_server(&bytes);
    assert!(
        matches!(pair.error, Some(RtmpError::AmfTooDeep)),
        "{:?}",
        pair.error
    );
}

#[test]
fn garbage_never_unwinds() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..500 {
        let mut server = RtmpSession::new();
        let mut out = Vec::new();
        if round % 2 == 0 {
            // A valid C0+C1 first, then garbage once the handshake is under way.
            let c0c1 = Handshake::new(PeerType::Client)
                .generate_outbound_p0_and_p1()
                .unwrap();
            let _ = server.handle_input(&c0c1, &mut out);
        }
        for _ in 0..4 {
            let len = (next() % 3000) as usize;
            let mut garbage: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(first) = garbage.first_mut() {
                *first = [3, 2, 0x03, 0x43][(next() % 4) as usize];
            }
            if server.handle_input(&garbage, &mut out).is_err() {
                break;
            }
        }
    }
}

/// An AMF0 data message (type 18) on chunk stream 10 with a full header.
fn amf0_data_message(values: &[rml_rtmp::rml_amf0::Amf0Value]) -> Vec<u8> {
    let payload = rml_rtmp::rml_amf0::serialize(&values.to_vec()).unwrap();
    crate::testdata::rtmp_message(10, 18, 1, &payload)
}

#[test]
fn rml_rtmp_panics_end_only_the_session() {
    use rml_rtmp::rml_amf0::Amf0Value;
    // rml_rtmp 0.8 indexes `data[0]` after "@setDataFrame" without a length check.
    let mut pair = Pair::new();
    pair.publish("good");
    pair.send_to_server(&amf0_data_message(&[Amf0Value::Utf8String(
        "@setDataFrame".to_owned(),
    )]));
    assert!(
        matches!(pair.error, Some(RtmpError::Panic(_))),
        "{:?}",
        pair.error
    );
    let mut out = Vec::new();
    assert!(matches!(
        pair.server.handle_input(&[0], &mut out),
        Err(RtmpError::Poisoned)
    ));
}

#[test]
fn fcpublish_is_answered_with_on_fc_publish() {
    use rml_rtmp::chunk_io::ChunkDeserializer;
    use rml_rtmp::messages::RtmpMessage;
    use rml_rtmp::rml_amf0::Amf0Value;
    let mut pair = Pair::new();
    pair.connect("live");
    let command = rml_rtmp::rml_amf0::serialize(&vec![
        Amf0Value::Utf8String("FCPublish".to_owned()),
        Amf0Value::Number(3.0),
        Amf0Value::Null,
        Amf0Value::Utf8String("good".to_owned()),
    ])
    .unwrap();
    let mut bytes = vec![10, 0, 0, 0, 0, 0, command.len() as u8, 20, 0, 0, 0, 0];
    bytes.extend(command);
    let mut out = Vec::new();
    pair.server.handle_input(&bytes, &mut out).unwrap();
    let reply = sent(&mut out);
    let mut chunks = ChunkDeserializer::new();
    chunks.set_max_chunk_size(4096).unwrap();
    let message = chunks.get_next_message(&reply).unwrap().unwrap();
    assert!(
        matches!(message.to_rtmp_message().unwrap(), RtmpMessage::Amf0Command { command_name, .. } if command_name == "onFCPublish")
    );
}
