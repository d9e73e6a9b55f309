//! Figures of a run, their table and JSON line, and the median over several runs.

use std::collections::BTreeMap;
use std::time::Duration;

/// The named figures of one run, in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub figures: Vec<(String, f64)>,
    /// Lines printed under the table (e.g. the soak's disk series).
    pub notes: Vec<String>,
}

impl Report {
    pub fn add(&mut self, name: &str, value: f64) {
        self.figures.push((name.to_string(), value));
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// The median of every figure over `runs` (the order of the first run).
    pub fn median(runs: &[Report]) -> Report {
        let mut values: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for run in runs {
            for (name, v) in &run.figures {
                values.entry(name).or_default().push(*v);
            }
        }
        let mut out = Report::default();
        if let Some(first) = runs.first() {
            for (name, _) in &first.figures {
                if let Some(vs) = values.get_mut(name.as_str()) {
                    vs.sort_by(f64::total_cmp);
                    out.add(name, vs[vs.len() / 2]);
                }
            }
        }
        out
    }

    /// A two-column table, one figure per line.
    pub fn table(&self, title: &str) -> String {
        let width = self.figures.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let mut s = format!("== {title} ==\n");
        for (name, v) in &self.figures {
            s.push_str(&format!("{name:<width$}  {}\n", fmt_value(*v)));
        }
        for note in &self.notes {
            s.push_str(note);
            s.push('\n');
        }
        s
    }

    /// One JSON object: `{"scenario": ..., "runs": n, figure: value, ...}`.
    pub fn json(&self, scenario: &str, runs: usize) -> String {
        let mut map = serde_json::Map::new();
        map.insert("scenario".into(), scenario.into());
        map.insert("runs".into(), runs.into());
        for (name, v) in &self.figures {
            let value = serde_json::Number::from_f64(round3(*v))
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null);
            map.insert(name.clone(), value);
        }
        serde_json::Value::Object(map).to_string()
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// The `p`-th percentile (0–100) of `sorted` (ascending), in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_run_per_figure() {
        let runs: Vec<Report> = [3.0, 1.0, 2.0]
            .iter()
            .map(|v| {
                let mut r = Report::default();
                r.add("x", *v);
                r.add("y", *v * 10.0);
                r
            })
            .collect();
        let m = Report::median(&runs);
        assert_eq!(m.get("x"), Some(2.0));
        assert_eq!(m.get("y"), Some(20.0));
    }

    #[test]
    fn percentiles_pick_by_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&d, 50.0), 51.0);
        assert_eq!(percentile_ms(&d, 99.0), 99.0);
        assert_eq!(percentile_ms(&d, 100.0), 100.0);
        assert_eq!(percentile_ms(&[], 99.0), 0.0);
    }
}
