//! Size and value accounting of a store.

use std::fmt;

use serde::Serialize;

use super::format::{ProblemRecord, BYTES_PER_VALUE, CHUNK_HEADER_LEN};
use crate::features::FeatureLayout;

/// Bytes of one stored row (token) of `layout`: 2·F. Per-candidate and per-problem overhead
/// comes on top (see [`StoreStats::overhead_per_token`]).
pub fn bytes_per_row(layout: &FeatureLayout) -> u64 {
    layout.width() as u64 * BYTES_PER_VALUE
}

/// What a store holds and how many bytes it takes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreStats {
    /// Values per row (F).
    pub width: usize,
    /// Committed problems.
    pub problems: u64,
    /// Candidates over all problems.
    pub candidates: u64,
    /// Candidates with no row.
    pub empty_candidates: u64,
    /// Rows (covered tokens).
    pub rows: u64,
    /// Chunk files.
    pub chunks: u64,
    /// Bytes of row data: rows · 2F.
    pub row_bytes: u64,
    /// Alignment padding between candidate blocks.
    pub padding_bytes: u64,
    /// Chunk headers.
    pub header_bytes: u64,
    /// The index file.
    pub index_bytes: u64,
    /// The manifest file.
    pub manifest_bytes: u64,
    /// Everything: chunks (committed part), index, manifest.
    pub total_bytes: u64,
    /// Values clamped to ±65504 because they were beyond the f16 range.
    pub saturated: u64,
    /// Non-zero values that became zero in f16 (below its smallest subnormal, ~6e-8).
    pub underflowed: u64,
    /// Largest |value| given to the writer, before clamping.
    pub max_abs: f32,
}

impl StoreStats {
    pub(crate) fn compute(
        records: &[ProblemRecord],
        width: usize,
        index_bytes: u64,
        manifest_bytes: u64,
    ) -> Self {
        let row_len = width as u64 * BYTES_PER_VALUE;
        let mut s = StoreStats {
            width,
            problems: records.len() as u64,
            candidates: 0,
            empty_candidates: 0,
            rows: 0,
            chunks: records.last().map_or(0, |r| u64::from(r.chunk) + 1),
            row_bytes: 0,
            padding_bytes: 0,
            header_bytes: 0,
            index_bytes,
            manifest_bytes,
            total_bytes: 0,
            saturated: 0,
            underflowed: 0,
            max_abs: 0.0,
        };
        for r in records {
            let rows: u64 = r.blocks.iter().map(|b| b.n_rows).sum();
            s.candidates += r.blocks.len() as u64;
            s.empty_candidates += r.blocks.iter().filter(|b| b.n_rows == 0).count() as u64;
            s.rows += rows;
            s.padding_bytes += (r.data_end - r.data_start) - rows * row_len;
            s.saturated += r.saturated;
            s.underflowed += r.underflowed;
            s.max_abs = s.max_abs.max(r.max_abs);
        }
        s.row_bytes = s.rows * row_len;
        s.header_bytes = s.chunks * CHUNK_HEADER_LEN;
        s.total_bytes =
            s.row_bytes + s.padding_bytes + s.header_bytes + s.index_bytes + s.manifest_bytes;
        s
    }

    /// Mean bytes on disk per stored row, everything included.
    pub fn bytes_per_token(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.total_bytes as f64 / self.rows as f64
        }
    }

    /// Mean bytes per row beyond the 2·F of the row itself.
    pub fn overhead_per_token(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            (self.total_bytes - self.row_bytes) as f64 / self.rows as f64
        }
    }

    /// Fraction of stored values that were clamped.
    pub fn saturated_fraction(&self) -> f64 {
        let values = self.rows * self.width as u64;
        if values == 0 {
            0.0
        } else {
            self.saturated as f64 / values as f64
        }
    }
}

impl fmt::Display for StoreStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} problems, {} candidates ({} without rows), {} rows of {} f16 values",
            self.problems, self.candidates, self.empty_candidates, self.rows, self.width
        )?;
        writeln!(
            f,
            "{} bytes in {} chunks + index {} + manifest {}: {:.1} bytes per token ({} for the row, {:.1} overhead)",
            self.total_bytes,
            self.chunks,
            self.index_bytes,
            self.manifest_bytes,
            self.bytes_per_token(),
            self.width as u64 * BYTES_PER_VALUE,
            self.overhead_per_token()
        )?;
        write!(
            f,
            "max |x| {}; {} values saturated to ±65504 ({:.2e} of all), {} underflowed to 0",
            self.max_abs,
            self.saturated,
            self.saturated_fraction(),
            self.underflowed
        )
    }
}
