//! Answers about what a rendition has published, for blocking playlist and part requests.

/// The newest published part of a rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Media sequence number of its segment.
    pub msn: u64,
    /// Index of the part inside the segment.
    pub part: u32,
}

/// What to do with a request that names `_HLS_msn` (and maybe `_HLS_part`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockDecision {
    /// The named segment or part is published: answer now.
    Ready,
    /// Not yet published: wait for the next publication and ask again.
    Wait,
    /// More than two segments beyond the last one: answer 400.
    TooFar,
    /// Older than the window (or unknown rendition): answer 404.
    Gone,
}

/// The `_HLS_skip` directive of a playlist request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Skip {
    /// The full playlist.
    #[default]
    No,
    /// `_HLS_skip=YES`: a delta update skipping old segments.
    Yes,
    /// `_HLS_skip=v2`: a delta update that also skips date ranges (this packager has none).
    V2,
}
