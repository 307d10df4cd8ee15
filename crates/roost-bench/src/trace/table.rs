//! The trace replay report: one row per trace and size, printed as a table and
//! serialised as JSON, with the mean policy/OPT per policy and per exact reference
//! (LRU, ARC, LIRS) at the end, and the mean of each row's best of all of them: how
//! close to OPT a perfect choice among the simulated policies would come.

use serde::Serialize;

use super::catalog::{PublishedFigure, CC_BY_ATTRIBUTION, LIRS_ATTRIBUTION};

/// One policy's result on one row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PolicyScore {
    pub policy: String,
    pub hit_percent: f64,
    /// `hit_percent / opt_percent`; 1.0 when OPT itself is zero.
    pub of_opt: f64,
}

/// A published figure as shown in the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PublishedScore {
    pub hit_percent: f64,
    pub exact: bool,
    pub source: &'static str,
}

impl From<PublishedFigure> for PublishedScore {
    fn from(figure: PublishedFigure) -> Self {
        Self {
            hit_percent: figure.hit_percent,
            exact: figure.exact,
            source: figure.source,
        }
    }
}

/// One trace at one cache size.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TraceRow {
    pub trace: &'static str,
    pub size: usize,
    pub requests: usize,
    pub lru_percent: f64,
    pub arc_percent: f64,
    pub lirs_percent: f64,
    pub opt_percent: f64,
    pub policies: Vec<PolicyScore>,
    pub published_w_tinylfu: Option<PublishedScore>,
    pub published_arc: Option<PublishedScore>,
}

/// Mean of policy/OPT over every row, per policy.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PolicyAverage {
    pub policy: String,
    pub mean_of_opt: f64,
}

/// The whole replay.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TraceReport {
    pub traces_dir: String,
    pub shards: usize,
    pub rows: Vec<TraceRow>,
    /// One per replayed policy, in the order given.
    pub averages: Vec<PolicyAverage>,
    /// The exact simulations: `lru`, `arc`, `lirs`.
    pub reference_averages: Vec<PolicyAverage>,
    /// Mean over rows of the best hit/OPT among the policies and the references.
    pub best_per_row_mean_of_opt: f64,
}

/// The exact reference simulations of a row, by name.
fn references(row: &TraceRow) -> [(&'static str, f64); 3] {
    [
        ("lru", row.lru_percent),
        ("arc", row.arc_percent),
        ("lirs", row.lirs_percent),
    ]
}

impl TraceReport {
    pub fn new(traces_dir: String, shards: usize, rows: Vec<TraceRow>) -> Self {
        let averages = average_of_opt(&rows);
        let reference_averages = reference_averages(&rows);
        let best_per_row_mean_of_opt = mean(rows.iter().map(|row| {
            let references = references(row)
                .map(|(_, percent)| ratio_of_opt(percent, row.opt_percent))
                .into_iter();
            let policies = row.policies.iter().map(|score| score.of_opt);
            references.chain(policies).fold(0.0, f64::max)
        }));
        Self {
            traces_dir,
            shards,
            rows,
            averages,
            reference_averages,
            best_per_row_mean_of_opt,
        }
    }

    /// Footer lines: averages, sharding caveat and attributions.
    pub fn render_footer(&self) -> String {
        let mut out = String::new();
        for average in &self.averages {
            out += &format!(
                "mean {}/OPT over {} rows: {:.3}\n",
                average.policy,
                self.rows.len(),
                average.mean_of_opt
            );
        }
        let references: Vec<String> = self
            .reference_averages
            .iter()
            .map(|average| format!("{} {:.3}", average.policy, average.mean_of_opt))
            .collect();
        if !references.is_empty() {
            out += &format!(
                "mean /OPT of the exact simulations: {}\n\
                 mean of each row's best /OPT (policies and exact simulations): {:.3}\n",
                references.join(", "),
                self.best_per_row_mean_of_opt
            );
        }
        if self.shards > 1 {
            out += &format!(
                "note: policy replayed over {} ring-routed shards with equal memory slices; \
                 figures differ slightly from a single shard (the exact simulations are always unsharded)\n",
                self.shards
            );
        }
        out += "published: ≈ read off a chart (±1 pt) or recalled; others printed. \
                LRU, ARC, LIRS and OPT are exact simulations.\n";
        out += &format!("{LIRS_ATTRIBUTION}\n{CC_BY_ATTRIBUTION}\n");
        out
    }
}

fn average_of_opt(rows: &[TraceRow]) -> Vec<PolicyAverage> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    first
        .policies
        .iter()
        .enumerate()
        .map(|(index, score)| PolicyAverage {
            policy: score.policy.clone(),
            mean_of_opt: mean(rows.iter().map(|row| row.policies[index].of_opt)),
        })
        .collect()
}

fn reference_averages(rows: &[TraceRow]) -> Vec<PolicyAverage> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    references(first)
        .iter()
        .enumerate()
        .map(|(index, (name, _))| PolicyAverage {
            policy: (*name).to_owned(),
            mean_of_opt: mean(
                rows.iter()
                    .map(|row| ratio_of_opt(references(row)[index].1, row.opt_percent)),
            ),
        })
        .collect()
}

/// The mean of `values`, 0 when there are none.
fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0u32), |(sum, count), value| (sum + value, count + 1));
    if count == 0 {
        0.0
    } else {
        sum / f64::from(count)
    }
}

/// The column header for `policies`.
pub fn render_header(policies: &[String]) -> String {
    let mut line = format!(
        "{:<9} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "trace", "size", "LRU%", "ARC%", "LIRS%", "OPT%"
    );
    for policy in policies {
        line += &format!(" {:>9} {:>6}", format!("{policy}%"), "/OPT");
    }
    line += &format!(" {:>10} {:>8}", "pub WTLFU%", "pub ARC%");
    line
}

/// One table line, matching `render_header`.
pub fn render_row(row: &TraceRow) -> String {
    let mut line = format!(
        "{:<9} {:>7} {:>7.2} {:>7.2} {:>7.2} {:>7.2}",
        row.trace, row.size, row.lru_percent, row.arc_percent, row.lirs_percent, row.opt_percent
    );
    for score in &row.policies {
        line += &format!(" {:>9.2} {:>6.3}", score.hit_percent, score.of_opt);
    }
    line += &format!(
        " {:>10} {:>8}",
        render_published(row.published_w_tinylfu.as_ref()),
        render_published(row.published_arc.as_ref())
    );
    line
}

fn render_published(score: Option<&PublishedScore>) -> String {
    match score {
        Some(score) if score.exact => format!("{:.2}", score.hit_percent),
        Some(score) => format!("≈{:.2}", score.hit_percent),
        None => "-".into(),
    }
}

/// `hit / opt`, treating an OPT of zero as a perfect score.
pub fn ratio_of_opt(hit_percent: f64, opt_percent: f64) -> f64 {
    if opt_percent > 0.0 {
        hit_percent / opt_percent
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(size: usize, of_opt: f64) -> TraceRow {
        TraceRow {
            trace: "sprite",
            size,
            requests: 10,
            lru_percent: 21.58,
            arc_percent: 25.66,
            lirs_percent: 25.31,
            opt_percent: 50.8,
            policies: vec![PolicyScore {
                policy: "s3fifo".into(),
                hit_percent: 50.8 * of_opt,
                of_opt,
            }],
            published_w_tinylfu: None,
            published_arc: Some(PublishedScore {
                hit_percent: 38.93,
                exact: false,
                source: "test",
            }),
        }
    }

    #[test]
    fn averages_policy_over_opt_across_rows() {
        let report = TraceReport::new("dir".into(), 1, vec![row(100, 0.4), row(200, 0.9)]);
        assert_eq!(report.averages.len(), 1);
        assert!((report.averages[0].mean_of_opt - 0.65).abs() < 1e-12);
        assert!(report
            .render_footer()
            .contains("mean s3fifo/OPT over 2 rows: 0.650"));
        assert!(!report.render_footer().contains("ring-routed"));
        // LRU 21.58, ARC 25.66 and LIRS 25.31 of OPT 50.8 on both rows.
        let arc = &report.reference_averages[1];
        assert_eq!(arc.policy, "arc");
        assert!((arc.mean_of_opt - 25.66 / 50.8).abs() < 1e-12);
        // Row 1: ARC (0.505) beats the policy (0.4); row 2: the policy (0.9) wins.
        assert!((report.best_per_row_mean_of_opt - (25.66 / 50.8 + 0.9) / 2.0).abs() < 1e-12);
        assert!(report
            .render_footer()
            .contains("lru 0.425, arc 0.505, lirs 0.498"));
        let sharded = TraceReport::new("dir".into(), 4, vec![row(100, 0.8)]);
        assert!(sharded.render_footer().contains("4 ring-routed shards"));
    }

    #[test]
    fn rows_line_up_with_the_header_and_mark_approximate_figures() {
        let header = render_header(&["s3fifo".into()]);
        let line = render_row(&row(100, 0.5));
        assert_eq!(
            header.chars().count(),
            line.chars().count(),
            "{header}\n{line}"
        );
        assert!(
            line.contains("≈38.93") && line.contains("25.40") && line.contains("0.500"),
            "{line}"
        );
    }

    #[test]
    fn zero_opt_counts_as_perfect() {
        assert_eq!(ratio_of_opt(0.0, 0.0), 1.0);
        assert!((ratio_of_opt(30.0, 60.0) - 0.5).abs() < 1e-12);
    }
}
