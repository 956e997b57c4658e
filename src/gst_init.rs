//! GStreamer is initialised once per process, on first use.

use std::sync::OnceLock;

/// Initialises GStreamer; later calls return the first call's outcome.
pub fn init() -> Result<(), String> {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    RESULT
        .get_or_init(|| gstreamer::init().map_err(|e| format!("initialising GStreamer: {e}")))
        .clone()
}
