//! Percentiles of a sample of durations.

pub struct Summary {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Nearest-rank percentiles of `values` (milliseconds or seconds alike).
pub fn summarize(mut values: Vec<f64>) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank =
        |p: f64| values[((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    Some(Summary {
        count: values.len(),
        p50: rank(0.5),
        p99: rank(0.99),
        max: values[values.len() - 1],
    })
}
