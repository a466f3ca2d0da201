//! Printing: one line per measurement, then the summary of medians of
//! per-round ratios next to the targets of the performance issue.

use super::load::Measurement;

/// A Charter route and its baseline, with what each round measured.
pub struct Pair {
    pub route: &'static str,
    pub baseline: &'static str,
    /// The least Charter/baseline req/s ratio aimed at, if any.
    pub target: Option<f64>,
    pub charter: Vec<Measurement>,
    pub bare: Vec<Measurement>,
}

/// The p99 of a Charter route may be at most this multiple of its baseline's.
pub const P99_TARGET: f64 = 2.0;

pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// Prints one measurement; flags errors loudly.
pub fn line(server: &str, label: &str, measured: &Measurement) {
    let label = label.replace('`', "");
    println!(
        "  {server:<15} {label:<44} {:>9.0} req/s  p50 {:>8.2} ms  p99 {:>8.2} ms  cpu {:>7.1} µs/req  non-2xx {}",
        measured.rps,
        measured.p50_ms,
        measured.p99_ms,
        measured.cpu_us_per_request,
        measured.non_2xx
    );
    if measured.non_2xx > 0 {
        println!(
            "  !!! {label}: {} of {} responses were errors (status ≥ 400): the figures above are not valid",
            measured.non_2xx, measured.requests
        );
    }
    if measured.socket_errors > 0 {
        println!(
            "  !!! {label}: {} socket errors (connect/read/write)",
            measured.socket_errors
        );
    }
    if measured.timeouts > 0 {
        println!("  !!! {label}: {} requests timed out", measured.timeouts);
    }
}

fn verdict(value: f64, met: bool) -> String {
    format!("{value:.2}× {}", if met { "met" } else { "**not met**" })
}

fn medians(measurements: &[Measurement], field: fn(&Measurement) -> f64) -> f64 {
    median(measurements.iter().map(field).collect())
}

fn ratios(pair: &Pair, field: fn(&Measurement) -> f64) -> f64 {
    median(
        pair.charter
            .iter()
            .zip(&pair.bare)
            .map(|(charter, bare)| field(charter) / field(bare))
            .collect(),
    )
}

/// The summary table (Markdown), with `pgbench` as one more baseline of the
/// PostgreSQL point read when it ran.
pub fn summary(pairs: &[Pair], pgbench: Option<(&Pair, &[f64])>) {
    println!(
        "\n| route | baseline | Charter req/s | baseline req/s | req/s ratio | target | \
         Charter p99 ms | baseline p99 ms | p99 ratio (≤ {P99_TARGET}×) | CPU µs/req Charter / baseline |"
    );
    println!("|---|---|--:|--:|--:|--:|--:|--:|---|--:|");
    for pair in pairs {
        let ratio = ratios(pair, |m| m.rps);
        let p99_ratio = ratios(pair, |m| m.p99_ms);
        let (judged, target) = match pair.target {
            Some(target) => (verdict(ratio, ratio >= target), format!("≥ {target:.2}×")),
            None => (format!("{ratio:.2}×"), "—".to_owned()),
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {judged} | {target} | {:.2} | {:.2} | {} | {:.0} / {:.0} |",
            pair.route,
            pair.baseline,
            medians(&pair.charter, |m| m.rps),
            medians(&pair.bare, |m| m.rps),
            medians(&pair.charter, |m| m.p99_ms),
            medians(&pair.bare, |m| m.p99_ms),
            verdict(p99_ratio, p99_ratio <= P99_TARGET),
            medians(&pair.charter, |m| m.cpu_us_per_request),
            medians(&pair.bare, |m| m.cpu_us_per_request),
        );
    }
    if let Some((pair, tps)) = pgbench {
        let ratio = median(
            pair.charter
                .iter()
                .zip(tps)
                .map(|(charter, tps)| charter.rps / tps)
                .collect(),
        );
        println!(
            "| {} | `pgbench -S -M prepared -c16` (TPS) | {:.0} | {:.0} | {ratio:.2}× | — | {:.2} | — | — | {:.0} / — |",
            pair.route,
            medians(&pair.charter, |m| m.rps),
            median(tps.to_vec()),
            medians(&pair.charter, |m| m.p99_ms),
            medians(&pair.charter, |m| m.cpu_us_per_request),
        );
    }
}
