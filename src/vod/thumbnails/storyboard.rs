//! Seek-bar thumbnails: which moments, how the tiles sit in the sprite
//! sheet, the WebVTT that maps each interval to its tile, and which frame
//! makes the poster. Pure code on RGB pixels.

use std::fmt::Write;

/// At most this many tiles.
pub const MAX_TILES: usize = 100;
/// Tiles are at least this far apart.
const MIN_INTERVAL_SECS: f64 = 1.0;
const COLUMNS: usize = 10;

/// The moments of the tiles: one every `interval` seconds from 0, at most
/// [`MAX_TILES`] of them; each tile stands for `[t, t + interval)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub interval: f64,
    pub times: Vec<f64>,
}

impl Schedule {
    /// The schedule of a `duration`-second video (at least one tile).
    pub fn of(duration: f64) -> Schedule {
        let duration = if duration.is_finite() {
            duration.max(0.0)
        } else {
            0.0
        };
        let interval = (duration / MAX_TILES as f64).max(MIN_INTERVAL_SECS);
        let count = ((duration / interval).ceil() as usize).clamp(1, MAX_TILES);
        Schedule {
            interval,
            times: (0..count).map(|i| i as f64 * interval).collect(),
        }
    }
}

/// Tiles of `width` x `height` in rows of [`COLUMNS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub width: u32,
    pub height: u32,
    pub columns: u32,
    pub rows: u32,
}

impl Grid {
    pub fn new(tiles: usize, width: u32, height: u32) -> Grid {
        let columns = tiles.clamp(1, COLUMNS);
        let rows = tiles.max(1).div_ceil(columns);
        Grid {
            width,
            height,
            columns: columns as u32,
            rows: rows as u32,
        }
    }

    /// The sheet's size in pixels.
    pub fn sheet(&self) -> (u32, u32) {
        (self.width * self.columns, self.height * self.rows)
    }

    /// Where tile `index` starts in the sheet.
    pub fn origin(&self, index: usize) -> (u32, u32) {
        let index = index as u32;
        (
            (index % self.columns) * self.width,
            (index / self.columns) * self.height,
        )
    }
}

/// The WebVTT track: each tile's interval (the last ends at `duration`)
/// pointing at its rectangle of `sprite`.
pub fn vtt(schedule: &Schedule, tiles: usize, grid: &Grid, duration: f64, sprite: &str) -> String {
    let mut out = String::from("WEBVTT\n");
    for (index, &start) in schedule.times.iter().take(tiles).enumerate() {
        let end = if index + 1 == tiles {
            duration.max(start + 0.001)
        } else {
            start + schedule.interval
        };
        let (x, y) = grid.origin(index);
        let _ = write!(
            out,
            "\n{} --> {}\n{sprite}#xywh={x},{y},{},{}\n",
            timestamp(start),
            timestamp(end),
            grid.width,
            grid.height
        );
    }
    out
}

/// `hh:mm:ss.mmm`.
fn timestamp(secs: f64) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// How much a picture shows: the spread of its luma. A black, white or
/// flat frame scores near 0.
pub fn detail(rgb: &[u8]) -> f64 {
    let mut count = 0.0;
    let (mut sum, mut squares) = (0.0, 0.0);
    // Every 7th pixel is plenty for a score.
    for pixel in rgb.chunks_exact(3).step_by(7) {
        let luma =
            0.299 * f64::from(pixel[0]) + 0.587 * f64::from(pixel[1]) + 0.114 * f64::from(pixel[2]);
        sum += luma;
        squares += luma * luma;
        count += 1.0;
    }
    if count == 0.0 {
        return 0.0;
    }
    let mean = sum / count;
    (squares / count - mean * mean).max(0.0).sqrt()
}

/// The poster: the most detailed of the frames, preferring those past the
/// first tenth (openings are often black or a title card) when one of them
/// is detailed enough.
pub fn poster_index(details: &[f64]) -> Option<usize> {
    const ENOUGH: f64 = 20.0;
    let best = |range: std::ops::Range<usize>| {
        range
            .filter_map(|i| details.get(i).map(|&d| (i, d)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    let skip = details.len() / 10;
    match best(skip..details.len()) {
        Some((index, detail)) if detail >= ENOUGH => Some(index),
        _ => best(0..details.len()).map(|(index, _)| index),
    }
}

/// Scales an RGB picture down to `to_w` x `to_h` by averaging the source
/// pixels each target pixel covers.
pub fn downscale(rgb: &[u8], width: u32, height: u32, to_w: u32, to_h: u32) -> Vec<u8> {
    let (w, h, tw, th) = (
        width as usize,
        height as usize,
        to_w as usize,
        to_h as usize,
    );
    let mut out = vec![0u8; tw * th * 3];
    if w == 0 || h == 0 || rgb.len() < w * h * 3 {
        return out;
    }
    for ty in 0..th {
        let (y0, y1) = (ty * h / th, ((ty + 1) * h / th).max(ty * h / th + 1).min(h));
        for tx in 0..tw {
            let (x0, x1) = (tx * w / tw, ((tx + 1) * w / tw).max(tx * w / tw + 1).min(w));
            let mut sums = [0u32; 3];
            for y in y0..y1 {
                for x in x0..x1 {
                    let at = (y * w + x) * 3;
                    for (sum, value) in sums.iter_mut().zip(&rgb[at..at + 3]) {
                        *sum += u32::from(*value);
                    }
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as u32;
            let at = (ty * tw + tx) * 3;
            for (target, sum) in out[at..at + 3].iter_mut().zip(sums) {
                *target = (sum / n) as u8;
            }
        }
    }
    out
}

/// Copies a tile into the sheet at `(x, y)`.
pub fn blit(sheet: &mut [u8], sheet_width: u32, tile: &[u8], grid: &Grid, (x, y): (u32, u32)) {
    let row_bytes = grid.width as usize * 3;
    for row in 0..grid.height as usize {
        let from = row * row_bytes;
        let to = ((y as usize + row) * sheet_width as usize + x as usize) * 3;
        if let (Some(src), Some(dst)) = (
            tile.get(from..from + row_bytes),
            sheet.get_mut(to..to + row_bytes),
        ) {
            dst.copy_from_slice(src);
        }
    }
}

/// `width` x `height` fitted in a `max` x `max` box, even sides, at least 2.
pub fn fit(width: u32, height: u32, max: u32) -> (u32, u32) {
    let (width, height) = (width.max(1), height.max(1));
    let scale = (f64::from(max) / f64::from(width.max(height))).min(1.0);
    let even = |side: u32| (((f64::from(side) * scale / 2.0).round() as u32) * 2).max(2);
    (even(width), even(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let short = Schedule::of(6.0);
        assert_eq!(short.times, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let long = Schedule::of(3600.0);
        assert_eq!(long.times.len(), MAX_TILES);
        assert_eq!(long.interval, 36.0);
        assert_eq!(Schedule::of(0.0).times, [0.0]);
        assert_eq!(Schedule::of(f64::NAN).times, [0.0]);
        assert_eq!(Schedule::of(6.5).times.len(), 7);
    }

    #[test]
    fn grids_and_vtt() {
        let grid = Grid::new(23, 160, 90);
        assert_eq!((grid.columns, grid.rows), (10, 3));
        assert_eq!(grid.sheet(), (1600, 270));
        assert_eq!(grid.origin(12), (320, 90));
        let schedule = Schedule::of(2.5);
        let small = Grid::new(3, 160, 90);
        assert_eq!((small.columns, small.rows), (3, 1));
        let vtt = vtt(&schedule, 3, &small, 2.5, "sprite.jpg");
        assert_eq!(
            vtt,
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nsprite.jpg#xywh=0,0,160,90\n\
             \n00:00:01.000 --> 00:00:02.000\nsprite.jpg#xywh=160,0,160,90\n\
             \n00:00:02.000 --> 00:00:02.500\nsprite.jpg#xywh=320,0,160,90\n"
        );
        assert_eq!(timestamp(3723.4567), "01:02:03.457");
    }

    #[test]
    fn the_poster_is_a_detailed_frame_past_the_opening() {
        let flat = vec![16u8; 300];
        // Black and white pixels in turn.
        let noisy: Vec<u8> = (0..300u32)
            .map(|i| if i / 3 % 2 == 0 { 0 } else { 255 })
            .collect();
        assert!(detail(&flat) < 1.0);
        assert!(detail(&noisy) > 40.0);
        // A detailed opening loses to a detailed frame later on.
        let details: Vec<f64> = (0..20)
            .map(|i| {
                if i == 0 {
                    90.0
                } else if i == 13 {
                    60.0
                } else {
                    2.0
                }
            })
            .collect();
        assert_eq!(poster_index(&details), Some(13));
        // All flat past the opening: the best of all.
        assert_eq!(poster_index(&[50.0, 1.0, 1.0]), Some(0));
        assert_eq!(poster_index(&[]), None);
    }

    #[test]
    fn scaling_averages_and_fits() {
        // 4x2, left half black, right half white, to 2x1.
        let mut rgb = Vec::new();
        for _ in 0..2 {
            rgb.extend([0u8; 6]);
            rgb.extend([255u8; 6]);
        }
        assert_eq!(downscale(&rgb, 4, 2, 2, 1), [0, 0, 0, 255, 255, 255]);
        assert_eq!(fit(1920, 1080, 160), (160, 90));
        assert_eq!(fit(1080, 1920, 160), (90, 160));
        assert_eq!(fit(320, 180, 1280), (320, 180));
        let grid = Grid::new(2, 2, 1);
        let mut sheet = vec![0u8; 4 * 3];
        blit(&mut sheet, 4, &[1, 1, 1, 2, 2, 2], &grid, grid.origin(1));
        assert_eq!(sheet, [0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
    }
}
