//! The output every suite shares: the JSON line, notes, and the table of
//! the suites that measure several metrics per row (the network suites).

use std::fmt::Write as _;

/// One result: a value of one metric, for one system, in one case.
pub struct Line<'a> {
    /// The suite's name.
    pub suite: &'a str,
    /// The case's name.
    pub case: &'a str,
    /// The system (runtime and flavour, or peer) measured.
    pub system: &'a str,
    /// What was measured.
    pub metric: &'a str,
    /// The median.
    pub value: f64,
    /// `value`'s unit.
    pub unit: &'a str,
    /// How many times better than tokio in the same case: tokio's value
    /// over this one for costs (time, CPU, syscalls, memory), this one
    /// over tokio's for rates; `None` when tokio has no value here.
    pub ratio_vs_tokio: Option<f64>,
}

impl Line<'_> {
    /// The line as one JSON object, with `extra` (`"key":value` pairs,
    /// each preceded by a comma) appended.
    pub fn json(&self, extra: &str) -> String {
        let ratio = match self.ratio_vs_tokio {
            Some(r) if r.is_finite() => format!("{r:.4}"),
            _ => "null".to_string(),
        };
        format!(
            "{{\"suite\":\"{}\",\"case\":\"{}\",\"system\":\"{}\",\"metric\":\"{}\",\
             \"value\":{},\"unit\":\"{}\",\"ratio_vs_tokio\":{ratio}{extra}}}",
            self.suite, self.case, self.system, self.metric, self.value, self.unit
        )
    }
}

/// A remark for the reader (a skipped peer, a lowered count): on stdout
/// as a `#` line of the table, on stderr with `--json`, whose stdout
/// must hold JSON lines only.
pub fn note(json: bool, text: &str) {
    if json {
        eprintln!("netpoll-bench: {text}");
    } else {
        println!("# note: {text}");
    }
}

/// A metric of a multi-metric suite: its name in JSON, its column header,
/// its unit, and whether more is better (a rate) or worse (a cost).
pub struct Metric {
    /// The `metric` field of the JSON line.
    pub name: &'static str,
    /// The column header of the table.
    pub column: &'static str,
    /// The `unit` field of the JSON line.
    pub unit: &'static str,
    /// True for rates (round trips/s), false for costs (µs, bytes).
    pub higher_is_better: bool,
}

impl Metric {
    /// How many times better `value` is than `reference`.
    fn ratio(&self, value: f64, reference: f64) -> f64 {
        if self.higher_is_better {
            value / reference
        } else {
            reference / value
        }
    }
}

/// The header of a multi-metric suite's table: a legend, then a column
/// of value and ratio per metric (nothing with `--json`).
pub fn header(json: bool, legend: &str, metrics: &[Metric]) {
    if json {
        return;
    }
    println!("# {legend}");
    println!(
        "# ratio = how many times better than the case's tokio row (for costs \
         tokio's value / this one): > 1.00 means better than tokio."
    );
    let mut line = format!("{:<9} {:<14} {:<24}", "suite", "case", "system");
    for m in metrics {
        let _ = write!(line, " {:>12} {:>6}", m.column, "ratio");
    }
    println!("{}", line.trim_end());
}

/// Prints one case of a multi-metric suite: a row per system with its
/// medians (`None`: the system has no result here), each metric's ratio
/// against the row named `reference`.
pub fn rows(
    json: bool,
    suite: &str,
    case: &str,
    metrics: &[Metric],
    rows: &[(&str, Option<Vec<f64>>)],
    reference: &str,
) {
    let reference = rows
        .iter()
        .find(|(system, _)| *system == reference)
        .and_then(|(_, values)| values.clone());
    for (system, values) in rows {
        let Some(values) = values else { continue };
        let mut table = format!("{suite:<9} {case:<14} {system:<24}");
        for (i, m) in metrics.iter().enumerate() {
            let ratio = reference
                .as_ref()
                .map(|r| m.ratio(values[i], r[i]))
                .filter(|r| r.is_finite());
            if json {
                let line = Line {
                    suite,
                    case,
                    system,
                    metric: m.name,
                    value: values[i],
                    unit: m.unit,
                    ratio_vs_tokio: ratio,
                };
                println!("{}", line.json(""));
            } else {
                let ratio = ratio.map(|r| format!("{r:.2}")).unwrap_or("-".into());
                let _ = write!(table, " {:>12} {ratio:>6}", short(values[i]));
            }
        }
        if !json {
            println!("{}", table.trim_end());
        }
    }
}

/// A number with three or four significant digits, `k`/`M` for large
/// ones.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 10e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 10e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The median of `v` (the upper one of an even count; repetitions are
/// odd anyway), for times and measured values alike.
pub fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}
