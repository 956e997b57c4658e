//! Conversions between timescales and decimal seconds, in integer arithmetic.

use std::fmt;

/// `value` ticks of `from` Hz expressed in `to` Hz, rounded to the nearest tick.
pub(crate) fn rescale(value: i64, from: u32, to: u32) -> i64 {
    let scaled = i128::from(value) * i128::from(to);
    let from = i128::from(from);
    saturate((scaled + from / 2).div_euclid(from))
}

/// `value` ticks of `from` Hz expressed in `to` Hz, rounded down.
pub(crate) fn rescale_floor(value: i64, from: u32, to: u32) -> i64 {
    saturate((i128::from(value) * i128::from(to)).div_euclid(i128::from(from)))
}

/// `value` ticks of `from` Hz expressed in `to` Hz, rounded up.
pub(crate) fn rescale_ceil(value: i64, from: u32, to: u32) -> i64 {
    let scaled = i128::from(value) * i128::from(to);
    let from = i128::from(from);
    saturate(-((-scaled).div_euclid(from)))
}

/// `numerator / denominator` written with exactly `places` decimals, rounded half up.
///
/// Integer arithmetic throughout: no binary floating point rounding, no locale, the same
/// text on every machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal {
    numerator: u128,
    denominator: u128,
    places: u32,
}

impl Decimal {
    /// The ratio with `places` decimals; a zero denominator counts as one.
    pub(crate) fn new(numerator: u128, denominator: u128, places: u32) -> Decimal {
        Decimal {
            numerator,
            denominator: denominator.max(1),
            places,
        }
    }

    /// `ticks` of a `timescale` Hz clock in seconds, with `places` decimals.
    pub(crate) fn seconds(ticks: u64, timescale: u32, places: u32) -> Decimal {
        Decimal::new(u128::from(ticks), u128::from(timescale), places)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = 10u128.saturating_pow(self.places);
        let scaled = self
            .numerator
            .saturating_mul(scale)
            .saturating_add(self.denominator / 2)
            / self.denominator;
        write!(f, "{}", scaled / scale)?;
        if self.places > 0 {
            write!(
                f,
                ".{:0width$}",
                scaled % scale,
                width = self.places as usize
            )?;
        }
        Ok(())
    }
}

fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds() {
        assert_eq!(rescale(90_000, 90_000, 48_000), 48_000);
        assert_eq!(rescale(1920, 90_000, 48_000), 1024);
        assert_eq!(rescale(1, 90_000, 48_000), 1);
        assert_eq!(rescale(-1920, 90_000, 48_000), -1024);
        assert_eq!(rescale_ceil(1, 90_000, 48_000), 1);
        assert_eq!(rescale_ceil(1920, 90_000, 48_000), 1024);
        assert_eq!(rescale_ceil(-1, 90_000, 48_000), 0);
        assert_eq!(rescale_floor(2, 90_000, 48_000), 1);
        assert_eq!(rescale_floor(-1, 90_000, 48_000), -1);
        assert_eq!(rescale(i64::MAX, 1, 90_000), i64::MAX);
    }

    #[test]
    fn writes_exact_decimals() {
        assert_eq!(Decimal::seconds(45_000, 90_000, 5).to_string(), "0.50000");
        assert_eq!(Decimal::seconds(360_360, 90_000, 5).to_string(), "4.00400");
        assert_eq!(Decimal::seconds(1, 90_000, 5).to_string(), "0.00001");
        // 6 ticks at 48 kHz are 0.000125 s: half up.
        assert_eq!(Decimal::seconds(6, 48_000, 5).to_string(), "0.00013");
        assert_eq!(Decimal::new(30_000, 1001, 3).to_string(), "29.970");
        assert_eq!(Decimal::new(7, 2, 0).to_string(), "4");
        assert_eq!(Decimal::new(5, 0, 1).to_string(), "5.0");
        assert_eq!(
            Decimal::seconds(u64::MAX, 1, 2).to_string(),
            "18446744073709551615.00"
        );
    }
}
