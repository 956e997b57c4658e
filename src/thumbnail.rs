//! JPEG posters from a keyframe, decoded with GStreamer.
