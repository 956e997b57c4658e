//! Which transcoded rungs a live stream gets: the server's default ladder,
//! overridable per stream through the API. Validation lives here so the
//! config file and the API refuse the same things.

use serde::{Deserialize, Serialize};

use crate::ladder::{Rung, default_rungs, rungs_for_source};

/// Ladder settings: whether to transcode, and the rungs (only those below
/// the source's height are made; never upscaled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LadderSettings {
    pub transcode: bool,
    pub rungs: Vec<Rung>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidLadder {
    #[error("at most {MAX_RUNGS} rungs")]
    TooManyRungs,
    #[error(
        "rung name {0:?} must be 1 to 16 of a-z, 0-9, - and _, and not \"source\" or \"audio\""
    )]
    Name(String),
    #[error("rung {0}: height must be an even number from 144 to 4320")]
    Height(String),
    #[error("rung {0}: bitrate must be 100 to 50000 kbit/s")]
    Bitrate(String),
    #[error("two rungs share the name or height of {0}")]
    Duplicate(String),
}

const MAX_RUNGS: usize = 8;

impl Default for LadderSettings {
    /// Transcoding on, with the ladder's default rungs.
    fn default() -> Self {
        LadderSettings {
            transcode: true,
            rungs: default_rungs(),
        }
    }
}

impl LadderSettings {
    pub fn validate(&self) -> Result<(), InvalidLadder> {
        if self.rungs.len() > MAX_RUNGS {
            return Err(InvalidLadder::TooManyRungs);
        }
        for (i, rung) in self.rungs.iter().enumerate() {
            let name_ok = (1..=16).contains(&rung.name.len())
                && rung.name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                })
                && !matches!(rung.name.as_str(), "source" | "audio");
            if !name_ok {
                return Err(InvalidLadder::Name(rung.name.clone()));
            }
            if !(144..=4320).contains(&rung.height) || rung.height % 2 != 0 {
                return Err(InvalidLadder::Height(rung.name.clone()));
            }
            if !(100..=50_000).contains(&rung.bitrate_kbps) {
                return Err(InvalidLadder::Bitrate(rung.name.clone()));
            }
            if self.rungs[..i]
                .iter()
                .any(|other| other.name == rung.name || other.height == rung.height)
            {
                return Err(InvalidLadder::Duplicate(rung.name.clone()));
            }
        }
        Ok(())
    }

    /// A stream's ladder: its own when stored (and readable), else the default.
    pub fn effective(default: &LadderSettings, stored: Option<&str>) -> LadderSettings {
        stored
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_else(|| default.clone())
    }

    /// The rungs to make for a source of this height, largest first.
    pub fn rungs_below(&self, source_height: u32) -> Vec<Rung> {
        if !self.transcode {
            return Vec::new();
        }
        rungs_for_source(&self.rungs, source_height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_never_upscale() {
        let ladder = LadderSettings::default();
        ladder.validate().unwrap();
        let names = |h| {
            ladder
                .rungs_below(h)
                .into_iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(720), ["480p", "360p"]);
        assert_eq!(names(1080), ["720p", "480p", "360p"]);
        assert_eq!(names(2160), ["1080p", "720p", "480p", "360p"]);
        assert!(names(360).is_empty());
        let off = LadderSettings {
            transcode: false,
            ..LadderSettings::default()
        };
        assert!(off.rungs_below(2160).is_empty());
    }

    #[test]
    fn bad_ladders_are_refused() {
        let with = |name: &str, height, bitrate_kbps| LadderSettings {
            transcode: true,
            rungs: vec![Rung {
                name: name.into(),
                height,
                bitrate_kbps,
            }],
        };
        assert_eq!(
            with("Big", 720, 1000).validate(),
            Err(InvalidLadder::Name("Big".into()))
        );
        assert_eq!(
            with("source", 720, 1000).validate(),
            Err(InvalidLadder::Name("source".into()))
        );
        assert_eq!(
            with("../x", 720, 1000).validate(),
            Err(InvalidLadder::Name("../x".into()))
        );
        assert_eq!(
            with("odd", 721, 1000).validate(),
            Err(InvalidLadder::Height("odd".into()))
        );
        assert_eq!(
            with("tiny", 720, 10).validate(),
            Err(InvalidLadder::Bitrate("tiny".into()))
        );
        let mut twice = LadderSettings::default();
        twice.rungs.push(twice.rungs[0].clone());
        assert_eq!(
            twice.validate(),
            Err(InvalidLadder::Duplicate("1080p".into()))
        );
    }
}
