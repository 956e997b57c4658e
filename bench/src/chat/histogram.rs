//! A latency histogram that thousands of client tasks record into at once:
//! log-linear buckets of microseconds (under 1% error) in a few stripes of
//! atomics, so that the two worker threads seldom write the same counters.
//! Holding every sample instead would take gigabytes at millions a second.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::stats::Summary;

/// 64 buckets per power of two.
const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;
const STRIPES: usize = 8;

pub struct Histogram {
    stripes: Vec<Box<[AtomicU64]>>,
}

impl Histogram {
    pub fn new() -> Histogram {
        let stripe = || (0..BUCKETS).map(|_| AtomicU64::new(0)).collect();
        Histogram {
            stripes: (0..STRIPES).map(|_| stripe()).collect(),
        }
    }

    /// Records one latency; `stripe` is any number steady per client.
    pub fn record(&self, stripe: usize, micros: u64) {
        self.stripes[stripe % STRIPES][bucket(micros)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        for counter in self.stripes.iter().flat_map(|s| s.iter()) {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// Nearest-rank percentiles in milliseconds (bucket midpoints).
    pub fn summary(&self) -> Option<Summary> {
        let counts: Vec<u64> = (0..BUCKETS)
            .map(|b| {
                self.stripes
                    .iter()
                    .map(|s| s[b].load(Ordering::Relaxed))
                    .sum()
            })
            .collect();
        let count: u64 = counts.iter().sum();
        if count == 0 {
            return None;
        }
        let rank = |p: f64| {
            let wanted = ((p * count as f64).ceil() as u64).clamp(1, count);
            let mut seen = 0;
            let found = counts.iter().position(|&c| {
                seen += c;
                seen >= wanted
            });
            found.map_or(0.0, midpoint_ms)
        };
        Some(Summary {
            count: count as usize,
            p50: rank(0.5),
            p99: rank(0.99),
            max: rank(1.0),
        })
    }
}

fn bucket(micros: u64) -> usize {
    if micros < SUB as u64 {
        return micros as usize;
    }
    let shift = 63 - micros.leading_zeros() - SUB_BITS;
    (shift as usize + 1) * SUB + ((micros >> shift) as usize - SUB)
}

fn midpoint_ms(bucket: usize) -> f64 {
    if bucket < SUB {
        return bucket as f64 / 1000.0;
    }
    let shift = (bucket / SUB - 1) as u32;
    let low = ((SUB + bucket % SUB) as u64) << shift;
    (low as f64 + (1u64 << shift) as f64 / 2.0) / 1000.0
}
