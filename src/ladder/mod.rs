//! The live adaptive ladder: one GStreamer pipeline per live stream.
