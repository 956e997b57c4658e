//! The picture of an audio file's waveform, its poster when it has no cover
//! art: the loudest and quietest sample of each column, drawn as a bar.

use super::grab::Picture;

/// Background and bar colours (RGB).
const BACKGROUND: [u8; 3] = [0x16, 0x18, 0x1d];
const BAR: [u8; 3] = [0x4f, 0xb3, 0xbf];
/// The waveform fills this share of the picture's height.
const FILL: f64 = 0.8;

/// The extremes of consecutive blocks of samples, gathered as they come.
#[derive(Debug, Clone)]
pub struct Peaks {
    per_block: usize,
    /// Samples in the block being gathered.
    count: usize,
    low: i16,
    high: i16,
    blocks: Vec<(i16, i16)>,
}

impl Peaks {
    /// Blocks of `per_block` samples (at least one).
    pub fn new(per_block: usize) -> Self {
        Self {
            per_block: per_block.max(1),
            count: 0,
            low: 0,
            high: 0,
            blocks: Vec::new(),
        }
    }

    pub fn push(&mut self, samples: impl IntoIterator<Item = i16>) {
        for sample in samples {
            if self.count == 0 {
                (self.low, self.high) = (sample, sample);
            } else {
                self.low = self.low.min(sample);
                self.high = self.high.max(sample);
            }
            self.count += 1;
            if self.count == self.per_block {
                self.blocks.push((self.low, self.high));
                self.count = 0;
            }
        }
    }

    /// Whether any sample came.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.count == 0
    }

    /// The waveform as a `width` x `height` picture.
    pub fn picture(mut self, width: u32, height: u32) -> Picture {
        if self.count > 0 {
            self.blocks.push((self.low, self.high));
        }
        let (w, h) = (width.max(1) as usize, height.max(1) as usize);
        let mut rgb = BACKGROUND.repeat(w * h);
        let blocks = &self.blocks;
        let middle = h as f64 / 2.0;
        let scale = middle * FILL / f64::from(i16::MAX);
        for x in 0..w {
            // The blocks this column stands for (at least one, when any).
            let from = x * blocks.len() / w;
            let to = ((x + 1) * blocks.len() / w).max(from + 1).min(blocks.len());
            let Some((low, high)) = blocks[from.min(to)..to]
                .iter()
                .copied()
                .reduce(|(l, h), (bl, bh)| (l.min(bl), h.max(bh)))
            else {
                continue;
            };
            let top = (middle - f64::from(high) * scale).floor().max(0.0) as usize;
            let bottom = (middle - f64::from(low) * scale).ceil().min(h as f64 - 1.0) as usize;
            // Silence still shows as a line through the middle.
            for y in top.min(h / 2)..=bottom.max(h / 2).min(h - 1) {
                let at = (y * w + x) * 3;
                rgb[at..at + 3].copy_from_slice(&BAR);
            }
        }
        Picture {
            width: w as u32,
            height: h as u32,
            rgb,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(picture: &Picture, x: u32) -> Vec<bool> {
        (0..picture.height)
            .map(|y| {
                let at = ((y * picture.width + x) * 3) as usize;
                picture.rgb[at..at + 3] == BAR
            })
            .collect()
    }

    #[test]
    fn loud_columns_are_tall_and_quiet_ones_a_line() {
        let mut peaks = Peaks::new(4);
        assert!(peaks.is_empty());
        // Two loud blocks, then two silent ones.
        peaks.push([i16::MAX, i16::MIN, 0, 0, 30_000, -30_000, 5, 5]);
        peaks.push([0; 8]);
        let picture = peaks.picture(4, 100);
        assert_eq!(picture.rgb.len(), 4 * 100 * 3);
        let loud = column(&picture, 0).iter().filter(|on| **on).count();
        let quiet = column(&picture, 3).iter().filter(|on| **on).count();
        assert!((79..=82).contains(&loud), "{loud}");
        assert_eq!(quiet, 1);
        assert!(column(&picture, 3)[50]);
    }

    #[test]
    fn more_columns_than_blocks_and_a_partial_block() {
        let mut peaks = Peaks::new(1000);
        peaks.push([10_000, -10_000]);
        let picture = peaks.picture(8, 10);
        for x in 0..8 {
            assert!(column(&picture, x).iter().filter(|on| **on).count() > 1);
        }
    }
}
