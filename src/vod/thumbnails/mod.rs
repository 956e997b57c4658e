//! An asset's poster and seek-bar thumbnails, made by the
//! `tributary thumbnails-source` child: one key-unit seek per tile (at most
//! 100), each decoding a single keyframe, so a long video costs about as
//! little as a short one. Writes `poster.jpg`, `sprite.jpg` (tiles in rows
//! of ten) and `storyboard.vtt` (each interval to its tile, as
//! `sprite.jpg#xywh=x,y,w,h`). An audio file gets a poster only: its cover
//! art, else its waveform.

mod cover;
mod grab;
pub mod storyboard;
mod waveform;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::jobs::JobError;
use grab::{GrabError, Grabber, Picture};
use storyboard::{Grid, Schedule};

pub const POSTER: &str = "poster.jpg";
pub const SPRITE: &str = "sprite.jpg";
pub const STORYBOARD: &str = "storyboard.vtt";
/// Every file this module writes.
pub const FILES: [&str; 3] = [POSTER, SPRITE, STORYBOARD];

const POSTER_MAX: u32 = 1280;
const TILE_MAX: u32 = 160;

/// What was made, kept with the asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thumbnails {
    pub poster: [u32; 2],
    pub tile: [u32; 2],
    /// 0 for an audio file: a poster only.
    pub tiles: usize,
    /// Seconds each tile stands for.
    pub interval: f64,
}

impl Thumbnails {
    /// The files made: the poster, and the storyboard when there are tiles.
    pub fn files(&self) -> &'static [&'static str] {
        if self.tiles == 0 { &FILES[..1] } else { &FILES }
    }

    pub fn has_storyboard(&self) -> bool {
        self.tiles > 0
    }
}

fn failure(message: impl Into<String>) -> JobError {
    JobError {
        code: "thumbnail_error".into(),
        message: message.into(),
    }
}

/// Makes the poster of the audio file at `uri` into `out`.
pub fn make_audio(uri: &str, out: &Path) -> Result<Thumbnails, JobError> {
    let poster = cover::audio_poster(uri, POSTER_MAX).map_err(|e| failure(e.to_string()))?;
    let jpeg = grab::jpeg(&poster, 85).map_err(|e| failure(e.to_string()))?;
    std::fs::write(out.join(POSTER), jpeg)
        .map_err(|e| failure(format!("writing {POSTER}: {e}")))?;
    Ok(Thumbnails {
        poster: [poster.width, poster.height],
        tile: [0, 0],
        tiles: 0,
        interval: 0.0,
    })
}

/// One file of a video and how many seconds of it play. A video is one or
/// more, played one after the other: a replay with reconnects is a file per
/// stretch between them.
#[derive(Debug)]
pub struct Stretch {
    pub uri: String,
    pub duration: f64,
}

/// The frames of a video made of stretches, one stretch open at a time.
struct Frames<'a> {
    stretches: &'a [Stretch],
    width: u32,
    height: u32,
    open: Option<(usize, Grabber)>,
}

impl Frames<'_> {
    /// The frame of the keyframe at or before `at` seconds into the video,
    /// within the stretch playing then.
    fn at(&mut self, at: f64) -> Result<Picture, GrabError> {
        let no_source = || GrabError::Read("no source".into());
        let (index, local) = locate(self.stretches, at);
        if self.open.as_ref().is_none_or(|(open, _)| *open != index) {
            // The previous stretch's pipeline stops before the next starts.
            self.open = None;
            let stretch = self.stretches.get(index).ok_or_else(no_source)?;
            self.open = Some((index, Grabber::open(&stretch.uri, self.width, self.height)?));
        }
        let (_, grabber) = self.open.as_ref().ok_or_else(no_source)?;
        grabber.frame_at(Duration::from_secs_f64(local))
    }
}

/// The stretch that plays at `at` seconds into the video and the time
/// within it; past the end, the last one.
fn locate(stretches: &[Stretch], at: f64) -> (usize, f64) {
    let mut start = 0.0;
    for (index, stretch) in stretches.iter().enumerate() {
        if at < start + stretch.duration || index + 1 == stretches.len() {
            return (index, (at - start).max(0.0));
        }
        start += stretch.duration;
    }
    (0, at)
}

/// Makes the thumbnails of the video played from `stretches`, whose upright
/// picture is `width` x `height`, into `out`. A stretch of another shape is
/// fitted into that size with borders.
pub fn make(
    stretches: &[Stretch],
    out: &Path,
    width: u32,
    height: u32,
) -> Result<Thumbnails, JobError> {
    let duration: f64 = stretches.iter().map(|s| s.duration).sum();
    let (poster_w, poster_h) = storyboard::fit(width, height, POSTER_MAX);
    let (tile_w, tile_h) = storyboard::fit(width, height, TILE_MAX);
    let mut frames = Frames {
        stretches,
        width: poster_w,
        height: poster_h,
        open: None,
    };
    let schedule = Schedule::of(duration);
    let grid = Grid::new(schedule.times.len(), tile_w, tile_h);
    let (sheet_w, sheet_h) = grid.sheet();
    let mut sheet = vec![0u8; sheet_w as usize * sheet_h as usize * 3];
    let mut details = Vec::new();
    // Only the frames that can still become the poster are kept.
    let mut candidates: Vec<(usize, Picture)> = Vec::new();
    for (index, &at) in schedule.times.iter().enumerate() {
        let picture = match frames.at(at) {
            Ok(picture) => picture,
            // Past what decodes (a duration longer than the file): stop there.
            Err(e) if index > 0 => {
                tracing::warn!("thumbnail at {at:.1} s: {e}; {index} tiles kept");
                break;
            }
            Err(e) => return Err(failure(e.to_string())),
        };
        let tile =
            storyboard::downscale(&picture.rgb, picture.width, picture.height, tile_w, tile_h);
        storyboard::blit(&mut sheet, sheet_w, &tile, &grid, grid.origin(index));
        details.push(storyboard::detail(&picture.rgb));
        candidates.push((index, picture));
        let skip = schedule.times.len() / 10;
        let best = |range: std::ops::Range<usize>| {
            range.max_by(|&a, &b| details[a].total_cmp(&details[b]))
        };
        let keep = [
            best(0..details.len()),
            best(skip.min(details.len())..details.len()),
        ];
        candidates.retain(|(i, _)| keep.contains(&Some(*i)));
    }
    let tiles = details.len();
    let poster_index =
        storyboard::poster_index(&details).ok_or_else(|| failure("no frame decoded"))?;
    let poster = candidates
        .into_iter()
        .find(|(i, _)| *i == poster_index)
        .map(|(_, picture)| picture)
        .ok_or_else(|| failure("the poster frame was not kept"))?;
    // A sheet cut short loses its empty rows.
    let grid_used = Grid::new(tiles, tile_w, tile_h);
    let used_h = grid_used.sheet().1;
    sheet.truncate(sheet_w as usize * used_h as usize * 3);
    let sprite = Picture {
        width: sheet_w,
        height: used_h,
        rgb: sheet,
    };
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(out.join(name), bytes).map_err(|e| failure(format!("writing {name}: {e}")))
    };
    write(
        POSTER,
        &grab::jpeg(&poster, 85).map_err(|e| failure(e.to_string()))?,
    )?;
    write(
        SPRITE,
        &grab::jpeg(&sprite, 75).map_err(|e| failure(e.to_string()))?,
    )?;
    let end = if tiles < schedule.times.len() {
        tiles as f64 * schedule.interval
    } else {
        duration
    };
    write(
        STORYBOARD,
        storyboard::vtt(&schedule, tiles, &grid, end, SPRITE).as_bytes(),
    )?;
    Ok(Thumbnails {
        poster: [poster.width, poster.height],
        tile: [tile_w, tile_h],
        tiles,
        interval: schedule.interval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stretches(durations: &[f64]) -> Vec<Stretch> {
        durations
            .iter()
            .map(|&duration| Stretch {
                uri: String::new(),
                duration,
            })
            .collect()
    }

    /// A file of `seconds` whose luma steps by `step` each second from
    /// `first`, with a keyframe every second (and B-frames, as cameras and
    /// OBS make them).
    fn stepped_gray(dir: &Path, name: &str, seconds: u32, first: i32, step: i32) -> Stretch {
        let path = dir.join(name).to_string_lossy().into_owned();
        let source = format!(
            "color=c=gray:s=160x90:r=10:d={seconds},format=yuv420p,\
             geq=lum='{first}+{step}*floor(T)':cb=128:cr=128"
        );
        crate::test_media::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &source,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "10",
            "-bf",
            "2",
            "-sc_threshold",
            "0",
            &path,
        ]);
        Stretch {
            uri: format!("file://{path}"),
            duration: f64::from(seconds),
        }
    }

    /// Each tile shows the keyframe of its time, in the stretch playing then.
    #[test]
    fn tiles_show_their_moment_across_stretches() {
        let dir = tempfile::tempdir().expect("temp dir");
        let video = [
            stepped_gray(dir.path(), "a.mp4", 6, 40, 20),
            stepped_gray(dir.path(), "b.mp4", 4, 220, -20),
        ];
        let made = make(&video, dir.path(), 160, 90).expect("thumbnails");
        assert_eq!((made.tiles, made.interval, made.tile), (10, 1.0, [160, 90]));
        let sprite = dir.path().join(SPRITE).to_string_lossy().into_owned();
        let gray =
            crate::test_media::ffmpeg(&["-i", &sprite, "-f", "rawvideo", "-pix_fmt", "gray", "-"]);
        assert_eq!(gray.len(), 1600 * 90);
        let expected_y = [40, 60, 80, 100, 120, 140, 220, 200, 180, 160];
        for (tile, y) in expected_y.into_iter().enumerate() {
            // The centre of the tile, in the sheet's full-range gray.
            let x = tile * 160 + 80;
            let mean = (40..50)
                .map(|row| f64::from(gray[row * 1600 + x]))
                .sum::<f64>()
                / 10.0;
            let full_range = f64::from(y - 16) * 255.0 / 219.0;
            assert!(
                (mean - full_range).abs() < 8.0,
                "tile {tile}: gray {mean}, expected {full_range}"
            );
        }
    }

    #[test]
    fn times_fall_in_the_stretch_playing_then() {
        let video = stretches(&[6.0, 4.0, 5.0]);
        assert_eq!(locate(&video, 0.0), (0, 0.0));
        assert_eq!(locate(&video, 5.5), (0, 5.5));
        assert_eq!(locate(&video, 6.0), (1, 0.0));
        assert_eq!(locate(&video, 12.0), (2, 2.0));
        // Past the end: the last stretch, which stops the tiles where it stops decoding.
        assert_eq!(locate(&video, 20.0), (2, 10.0));
        assert_eq!(locate(&stretches(&[3.0]), 7.0), (0, 7.0));
    }
}
