//! Timestamp unwrapping: RTMP's 32-bit milliseconds and MPEG's 33-bit
//! 90 kHz ticks both wrap; after ingest every timestamp is an unwrapped
//! `i64` in [`TIMESCALE`](crate::TIMESCALE) ticks.

/// Ticks of the 90 kHz clock per RTMP millisecond.
const TICKS_PER_MS: i64 = 90;

/// Unwraps RTMP timestamps (u32 milliseconds, wrapping after ~49.7 days).
///
/// Each timestamp is taken as the nearest value to the previous one, so the
/// clock follows wraps and small backwards steps (audio and video interleave
/// slightly out of order).
#[derive(Debug, Default)]
pub(crate) struct RtmpClock {
    last: Option<(u32, i64)>,
}

impl RtmpClock {
    /// Converts a raw RTMP timestamp to unwrapped 90 kHz ticks.
    pub(crate) fn ticks(&mut self, ms: u32) -> i64 {
        let unwrapped = match self.last {
            None => i64::from(ms),
            // Reinterpreting the wrapping difference as i32 picks the nearest value.
            Some((raw, ext)) => ext + i64::from(ms.wrapping_sub(raw) as i32),
        };
        self.last = Some((ms, unwrapped));
        unwrapped * TICKS_PER_MS
    }
}

/// Milliseconds (an RTMP composition time offset) as 90 kHz ticks.
pub(crate) fn ms_to_ticks(ms: i32) -> i64 {
    i64::from(ms) * TICKS_PER_MS
}

const MPEG_WRAP: i64 = 1 << 33;

/// Unwraps 33-bit MPEG-TS timestamps (PTS/DTS, wrapping after ~26.5 hours).
#[derive(Debug, Default)]
pub(crate) struct MpegClock {
    last: Option<(i64, i64)>,
}

impl MpegClock {
    /// Converts a raw 33-bit timestamp to an unwrapped one (same 90 kHz unit).
    pub(crate) fn unwrap(&mut self, raw: u64) -> i64 {
        let raw = (raw & (MPEG_WRAP as u64 - 1)) as i64;
        let unwrapped = match self.last {
            None => raw,
            Some((last_raw, ext)) => {
                let mut delta = (raw - last_raw).rem_euclid(MPEG_WRAP);
                if delta >= MPEG_WRAP / 2 {
                    delta -= MPEG_WRAP;
                }
                ext + delta
            }
        };
        self.last = Some((raw, unwrapped));
        unwrapped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_clock_converts_and_unwraps() {
        let mut clock = RtmpClock::default();
        assert_eq!(clock.ticks(1000), 90_000);
        assert_eq!(clock.ticks(980), 88_200, "small backwards step stays near");
        assert_eq!(
            clock.ticks(u32::MAX - 10),
            (i64::from(u32::MAX) - 10 - 4_294_967_296) * 90
        );

        let mut clock = RtmpClock::default();
        clock.ticks(u32::MAX - 5);
        assert_eq!(
            clock.ticks(4),
            (i64::from(u32::MAX) + 5) * 90,
            "wraps forward"
        );
    }

    #[test]
    fn mpeg_clock_unwraps_33_bits() {
        let mut clock = MpegClock::default();
        let near_wrap = MPEG_WRAP as u64 - 3000;
        assert_eq!(clock.unwrap(near_wrap), near_wrap as i64);
        assert_eq!(clock.unwrap(3000), MPEG_WRAP + 3000);
        assert_eq!(
            clock.unwrap(MPEG_WRAP as u64 - 1000),
            MPEG_WRAP - 1000,
            "small step back"
        );
        assert_eq!(clock.unwrap(6000), MPEG_WRAP + 6000);
        // Bits above 33 are ignored.
        assert_eq!(clock.unwrap((1 << 40) | 9000), MPEG_WRAP + 9000);
    }
}
