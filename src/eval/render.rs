//! Plain-text tables of a [`Report`].

use std::fmt::{self, Write};

use super::estimate::Method;
use super::report::{Cell, Difference, Report};

/// Right-aligned columns (the first left-aligned), separated by two spaces.
fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let width = |c: usize| {
        rows.iter()
            .map(|r| r[c].chars().count())
            .chain([header[c].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let mut line = String::new();
        for (c, (cell, &w)) in row.iter().zip(&widths).enumerate() {
            let pad = w - cell.chars().count();
            if c == 0 {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.push_str("  ");
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

impl Report {
    /// The table of each selector's paired difference from baseline `what` (`of` picks it out
    /// of a cell), or nothing when no cell has one.
    fn paired_table(
        &self,
        header: &[String],
        what: &str,
        of: impl Fn(&Cell) -> Option<Difference>,
    ) -> String {
        if !self
            .rows
            .iter()
            .flat_map(|r| &r.cells)
            .any(|c| of(c).is_some())
        {
            return String::new();
        }
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let mut line = vec![r.k.to_string(), r.problems.to_string()];
                line.extend(r.cells.iter().map(|c| match of(c) {
                    Some(d) => format!("{:+.3}±{:.3}", d.mean, d.std_error),
                    None => "-".to_owned(),
                }));
                line
            })
            .collect();
        format!(
            "\nExpected Best-of-k accuracy minus {what}'s, paired over problems (± = standard error over problems)\n{}",
            table(header, &rows)
        )
    }

    /// The report as aligned plain text: the expected Best-of-k accuracy (rows = k, columns =
    /// selectors; sampled values carry `±` their standard error), the first-k accuracy, then
    /// score AUCs, counts and notes.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let mut header: Vec<String> = vec!["k".into(), "problems".into()];
        header.extend(self.selectors.iter().map(|s| s.name.clone()));

        let any_sampled = self
            .rows
            .iter()
            .flat_map(|r| &r.cells)
            .any(|c| c.method != Method::Exact);
        let expected: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let mut line = vec![r.k.to_string(), r.problems.to_string()];
                line.extend(r.cells.iter().map(|c| match c.method {
                    Method::Exact => format!("{:.3}", c.expected),
                    Method::Sampled(_) => format!("{:.3}±{:.3}", c.expected, c.std_error),
                }));
                line
            })
            .collect();
        let first: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let mut line = vec![r.k.to_string(), r.problems.to_string()];
                line.extend(r.cells.iter().map(|c| format!("{:.3}", c.first_k)));
                line
            })
            .collect();

        out.push_str(
            "Best-of-k accuracy, expected over all k-subsets of each problem's candidates",
        );
        if any_sampled {
            let _ = write!(
                out,
                " (± = standard error where sampled from {} random subsets)",
                self.settings.draws
            );
        }
        out.push('\n');
        out.push_str(&table(&header, &expected));
        out.push_str("\nBest-of-k accuracy on the first k candidates (reference BoN@k)\n");
        out.push_str(&table(&header, &first));
        out.push_str(&self.paired_table(&header, "majority vote", |c| c.vs_majority));
        out.push_str(&self.paired_table(&header, "log-prob", |c| c.vs_logprob));

        out.push_str("\nScores: AUC of correct vs incorrect candidates\n");
        let score_header: Vec<String> = [
            "score",
            "AUC pooled",
            "AUC per problem",
            "problems",
            "missing",
        ]
        .map(String::from)
        .to_vec();
        let score_rows: Vec<Vec<String>> = self
            .scores
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    opt(s.auc_pooled),
                    opt(s.auc_mean_per_problem),
                    s.problems_with_both_classes.to_string(),
                    s.missing.to_string(),
                ]
            })
            .collect();
        out.push_str(&table(&score_header, &score_rows));

        let c = &self.counts;
        let pct = |x: usize, of: usize| {
            if of == 0 {
                0.0
            } else {
                100.0 * x as f64 / of as f64
            }
        };
        let per_problem = if c.min_candidates == c.max_candidates {
            format!("{}", c.max_candidates)
        } else {
            format!("{}-{}", c.min_candidates, c.max_candidates)
        };
        out.push_str("\nCounts\n");
        let count_rows = vec![
            vec!["problems".into(), c.problems.to_string(), String::new()],
            vec![
                "candidates".into(),
                c.candidates.to_string(),
                format!("{per_problem} per problem"),
            ],
            vec![
                "correct candidates".into(),
                c.correct.to_string(),
                format!("{:.1}%", pct(c.correct, c.candidates)),
            ],
            vec![
                "no extracted answer".into(),
                c.no_answer.to_string(),
                format!("{:.1}%", pct(c.no_answer, c.candidates)),
            ],
            vec![
                "problems all correct".into(),
                c.all_correct.to_string(),
                format!("{:.1}%", pct(c.all_correct, c.problems)),
            ],
            vec![
                "problems none correct".into(),
                c.none_correct.to_string(),
                format!("{:.1}%", pct(c.none_correct, c.problems)),
            ],
        ];
        let count_header = vec![String::new(), "count".into(), String::new()];
        out.push_str(&table(&count_header, &count_rows));

        if !self.notes.is_empty() {
            out.push_str("\nNotes\n");
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_text())
    }
}
