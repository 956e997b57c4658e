//! The rungs of the ladder and which of them a source gets.

use serde::{Deserialize, Serialize};

/// One transcoded rendition: its name, height and target bitrate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    /// Rendition name, e.g. `720p`.
    pub name: String,
    /// Height in pixels; the width follows the source's aspect ratio.
    pub height: u32,
    /// Target (and VBV maximum) bitrate in kbit/s.
    pub bitrate_kbps: u32,
}

impl Rung {
    fn new(height: u32, bitrate_kbps: u32) -> Self {
        Self {
            name: format!("{height}p"),
            height,
            bitrate_kbps,
        }
    }
}

/// 1080p 5000k, 720p 2800k, 480p 1400k, 360p 800k.
pub fn default_rungs() -> Vec<Rung> {
    vec![
        Rung::new(1080, 5000),
        Rung::new(720, 2800),
        Rung::new(480, 1400),
        Rung::new(360, 800),
    ]
}

/// The rungs strictly below the source height, largest first (the source
/// rendition itself covers its own height; nothing is upscaled).
pub fn rungs_for_source(rungs: &[Rung], source_height: u32) -> Vec<Rung> {
    let mut below: Vec<Rung> = rungs
        .iter()
        .filter(|rung| rung.height < source_height)
        .cloned()
        .collect();
    below.sort_by_key(|rung| std::cmp::Reverse(rung.height));
    below
}

/// The width of a rung: the source's aspect ratio at the rung's height,
/// rounded to the nearest even number (4:2:0 needs even sizes), at least 2.
pub fn rung_width(source_width: u32, source_height: u32, rung_height: u32) -> u32 {
    if source_height == 0 {
        return 2;
    }
    let scaled = u64::from(source_width) * u64::from(rung_height);
    let pairs = (scaled + u64::from(source_height)) / (2 * u64::from(source_height));
    u32::try_from(pairs * 2).unwrap_or(u32::MAX - 1).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rungs_below_the_source_largest_first() {
        let mut rungs = default_rungs();
        rungs.reverse();
        let names = |source: u32| -> Vec<String> {
            rungs_for_source(&rungs, source)
                .into_iter()
                .map(|r| r.name)
                .collect()
        };
        assert_eq!(names(1080), ["720p", "480p", "360p"]);
        assert_eq!(names(1440), ["1080p", "720p", "480p", "360p"]);
        assert_eq!(names(720), ["480p", "360p"]);
        assert_eq!(names(719), ["480p", "360p"]);
        assert_eq!(names(360), Vec::<String>::new());
        assert_eq!(names(0), Vec::<String>::new());
    }

    #[test]
    fn widths_keep_the_aspect_ratio_and_are_even() {
        assert_eq!(rung_width(1920, 1080, 720), 1280);
        assert_eq!(rung_width(1920, 1080, 480), 854);
        assert_eq!(rung_width(1920, 1080, 360), 640);
        assert_eq!(rung_width(1280, 720, 480), 854);
        // 4:3 and an odd-sized source.
        assert_eq!(rung_width(1440, 1080, 720), 960);
        assert_eq!(rung_width(1366, 767, 360), 642);
        // Portrait.
        assert_eq!(rung_width(1080, 1920, 720), 406);
        for height in (2..2000).step_by(2) {
            let width = rung_width(1917, 1079, height);
            assert_eq!(width % 2, 0);
            let exact = 1917.0 * f64::from(height) / 1079.0;
            assert!(
                (f64::from(width) - exact).abs() <= 1.0,
                "{height}: {width} vs {exact}"
            );
        }
        assert_eq!(rung_width(100, 0, 360), 2);
    }
}
