//! The reading side: a validated, read-only view of the committed problems, with f16 → f32
//! conversion of whole rows or of a projection onto some segments.

use std::path::{Path, PathBuf};

use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};

use super::chunkio::{ChunkData, ReadMode};
use super::error::StoreError;
use super::format::{
    chunk_path, Manifest, ProblemRecord, BYTES_PER_VALUE, MANIFEST_FILE, STORE_DIR,
};
use super::scan::{scan, Recovery};
use super::stats::StoreStats;
use crate::features::{FeatureLayout, FeatureSource, StateSpec};

/// Where one candidate's rows are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The problem.
    pub problem_index: u64,
    /// The candidate within the problem.
    pub candidate: u32,
    /// Chunk file number.
    pub chunk: u32,
    /// Byte offset of the first row in the chunk.
    pub offset: u64,
    /// Rows (covered tokens).
    pub n_rows: u64,
}

/// A read-only feature store: every committed candidate, in order of (problem, candidate).
///
/// Reads take `&self` and may run on several threads at once.
pub struct FeatureStore {
    root: PathBuf,
    manifest: Manifest,
    records: Vec<ProblemRecord>,
    /// Index into `entries` of each record's first candidate.
    first_entry: Vec<usize>,
    entries: Vec<Entry>,
    chunks: Vec<ChunkData>,
    index_len: u64,
    manifest_bytes: u64,
    recovery: Recovery,
}

impl std::fmt::Debug for FeatureStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureStore")
            .field("root", &self.root)
            .field("problems", &self.records.len())
            .field("entries", &self.entries.len())
            .field("chunks", &self.chunks.len())
            .finish_non_exhaustive()
    }
}

impl FeatureStore {
    /// Opens the store in `dir/features`, memory-mapping its chunks where possible.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, ReadMode::Auto)
    }

    /// Opens the store in `dir/features` with the given read mode.
    ///
    /// The store is validated (manifest, index checksums and structure, chunk headers, every
    /// entry within its chunk). Bytes past the committed problems (a crashed writer's torn tail)
    /// are ignored, not removed, and described by [`recovery`](Self::recovery).
    pub fn open_with(dir: &Path, mode: ReadMode) -> Result<Self, StoreError> {
        let root = dir.join(STORE_DIR);
        let s = scan(&root)?;
        if !s.recovery.is_clean() {
            tracing::warn!(store = %root.display(), recovery = ?s.recovery, "feature store has an uncommitted tail; reading the committed problems only");
        }
        let manifest_path = root.join(MANIFEST_FILE);
        let manifest_bytes = std::fs::metadata(&manifest_path)
            .map_err(StoreError::io(&manifest_path))?
            .len();
        let n_chunks = s.records.last().map_or(0, |r| r.chunk as usize + 1);
        let mut chunks = Vec::with_capacity(n_chunks);
        for id in 0..n_chunks as u32 {
            let end = s
                .chunk_end(id)
                .expect("every chunk up to the last holds a problem");
            chunks.push(ChunkData::open(&chunk_path(&root, id), end, mode)?);
        }
        let mut entries = Vec::new();
        let mut first_entry = Vec::with_capacity(s.records.len());
        for r in &s.records {
            first_entry.push(entries.len());
            entries.extend(r.blocks.iter().enumerate().map(|(c, b)| Entry {
                problem_index: r.problem_index,
                candidate: c as u32,
                chunk: r.chunk,
                offset: b.offset,
                n_rows: b.n_rows,
            }));
        }
        Ok(Self {
            root,
            manifest: s.manifest,
            records: s.records,
            first_entry,
            entries,
            chunks,
            index_len: s.index_valid_len,
            manifest_bytes,
            recovery: s.recovery,
        })
    }

    /// The store directory (`dir/features`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Layout of the stored rows.
    pub fn layout(&self) -> &FeatureLayout {
        &self.manifest.layout
    }

    /// The manifest: format version, dtype, layout, chunk limit.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Refuses a store whose layout is not `expected`.
    pub fn check_layout(&self, expected: &FeatureLayout) -> Result<(), StoreError> {
        if &self.manifest.layout != expected {
            return Err(StoreError::LayoutMismatch {
                path: self.root.join(MANIFEST_FILE),
                expected: Box::new(expected.clone()),
                got: Box::new(self.manifest.layout.clone()),
            });
        }
        Ok(())
    }

    /// Values per row (F).
    pub fn width(&self) -> usize {
        self.manifest.layout.width()
    }

    /// Bytes past the committed problems that opening ignored.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// True when every chunk is memory-mapped.
    pub fn is_mapped(&self) -> bool {
        self.chunks.iter().all(ChunkData::is_mapped)
    }

    /// Every stored candidate, ordered by (problem, candidate).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Number of stored candidates (entries).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no problem is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Committed problem indices, increasing.
    pub fn problem_indices(&self) -> impl ExactSizeIterator<Item = u64> + '_ {
        self.records.iter().map(|r| r.problem_index)
    }

    /// Candidates stored for `problem_index`, if the problem is stored.
    pub fn n_candidates_of(&self, problem_index: u64) -> Option<usize> {
        let k = self
            .records
            .binary_search_by_key(&problem_index, |r| r.problem_index)
            .ok()?;
        Some(self.records[k].blocks.len())
    }

    /// The problem to collect next: one past the last committed one.
    pub fn next_problem_index(&self) -> u64 {
        self.records.last().map_or(0, |r| r.problem_index + 1)
    }

    /// Entry number of (`problem_index`, `candidate`).
    pub fn find(&self, problem_index: u64, candidate: u32) -> Option<usize> {
        let k = self
            .records
            .binary_search_by_key(&problem_index, |r| r.problem_index)
            .ok()?;
        ((candidate as usize) < self.records[k].blocks.len())
            .then(|| self.first_entry[k] + candidate as usize)
    }

    /// Sizes and value statistics.
    pub fn stats(&self) -> StoreStats {
        StoreStats::compute(
            &self.records,
            self.width(),
            self.index_len,
            self.manifest_bytes,
        )
    }

    fn entry_checked(&self, i: usize) -> Result<&Entry, StoreError> {
        self.entries.get(i).ok_or(StoreError::EntryOutOfRange {
            index: i,
            len: self.entries.len(),
        })
    }

    /// Raw little-endian f16 bytes of entry `i`'s rows.
    fn row_bytes<'a>(
        &'a self,
        e: &Entry,
        scratch: &'a mut Vec<u8>,
    ) -> Result<&'a [u8], StoreError> {
        let len = e.n_rows as usize * self.width() * BYTES_PER_VALUE as usize;
        self.chunks[e.chunk as usize].bytes(e.offset, len, scratch)
    }

    /// Reads the rows of entry `i` as stored (f16) into `out` (cleared first), row-major.
    pub fn read_rows_f16(&self, i: usize, out: &mut Vec<f16>) -> Result<(), StoreError> {
        let e = *self.entry_checked(i)?;
        let mut scratch = Vec::new();
        let bytes = self.row_bytes(&e, &mut scratch)?;
        out.clear();
        out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| f16::from_bits(u16::from_le_bytes([b[0], b[1]]))),
        );
        Ok(())
    }

    /// Reads the rows of entry `i` as f32 into `out` (cleared first), row-major
    /// `n_rows x width`.
    pub fn read_rows(&self, i: usize, out: &mut Vec<f32>) -> Result<(), StoreError> {
        let e = *self.entry_checked(i)?;
        let mut scratch = Vec::new();
        let bytes = self.row_bytes(&e, &mut scratch)?;
        out.clear();
        out.resize(bytes.len() / 2, 0.0);
        decode_f16_le(bytes, out);
        Ok(())
    }

    /// Reads only the projected segments of entry `i`'s rows as f32 into `out` (cleared first),
    /// row-major `n_rows x projection.width()`. Only the selected values are converted.
    pub fn read_projected(
        &self,
        i: usize,
        projection: &Projection,
        out: &mut Vec<f32>,
    ) -> Result<(), StoreError> {
        projection.check_source(self.layout())?;
        let e = *self.entry_checked(i)?;
        let mut scratch = Vec::new();
        let bytes = self.row_bytes(&e, &mut scratch)?;
        let width = self.width();
        out.clear();
        out.resize(e.n_rows as usize * projection.width(), 0.0);
        let mut dst = 0;
        for row in bytes.chunks_exact(width * 2) {
            for &(start, len) in &projection.runs {
                decode_f16_le(&row[start * 2..(start + len) * 2], &mut out[dst..dst + len]);
                dst += len;
            }
        }
        Ok(())
    }

    /// Recomputes every problem's data checksum. Opening checks structure only; this reads all
    /// the rows. Returns the number of problems checked.
    pub fn verify(&self) -> Result<usize, StoreError> {
        for (k, r) in self.records.iter().enumerate() {
            if self.chunks[r.chunk as usize].digest(r.data_start, r.data_end)? != r.data_digest {
                return Err(StoreError::ChecksumMismatch {
                    path: chunk_path(&self.root, r.chunk),
                    entry: k as u64,
                    problem_index: r.problem_index,
                    start: r.data_start,
                    end: r.data_end,
                });
            }
        }
        Ok(self.records.len())
    }
}

/// Converts little-endian f16 bytes to f32, a block at a time so that `half`'s slice conversion
/// (F16C / NEON when the CPU has it, detected at run time) does the work.
pub(crate) fn decode_f16_le(bytes: &[u8], out: &mut [f32]) {
    const BLOCK: usize = 2048;
    debug_assert_eq!(bytes.len(), out.len() * 2);
    let mut bits = [0u16; BLOCK];
    for (src, dst) in bytes.chunks(2 * BLOCK).zip(out.chunks_mut(BLOCK)) {
        let n = dst.len();
        for (b, w) in src.chunks_exact(2).zip(bits.iter_mut()) {
            *w = u16::from_le_bytes([b[0], b[1]]);
        }
        let halves: &[f16] = bits[..n].reinterpret_cast();
        halves.convert_to_f32_slice(dst);
    }
}

/// A selection of segments (states) of a layout, read without converting the rest: for
/// example the last 4 block outputs out of rows that hold every state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    source: FeatureLayout,
    layout: FeatureLayout,
    segments: Vec<usize>,
    /// Contiguous runs of selected values within a row: (first value, length).
    runs: Vec<(usize, usize)>,
}

impl Projection {
    /// Selects segments of `layout` by position (0-based, increasing, no repeats).
    pub fn segments(layout: &FeatureLayout, segments: &[usize]) -> Result<Self, StoreError> {
        let bad = |reason: String| StoreError::BadProjection { reason };
        if segments.is_empty() {
            return Err(bad("no segment selected".into()));
        }
        if segments.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad(format!("segments {segments:?} are not increasing")));
        }
        let n = layout.segments();
        if let Some(&s) = segments.iter().find(|&&s| s >= n) {
            return Err(bad(format!(
                "segment {s} is out of range: the layout has {n} segments"
            )));
        }
        let out_layout = match &layout.source {
            FeatureSource::Hidden { selection, n_embd } => {
                let states: Vec<u32> = segments.iter().map(|&s| selection.states()[s]).collect();
                let sel = StateSpec::List(states)
                    .resolve(selection.n_layer())
                    .map_err(|e| bad(e.to_string()))?;
                FeatureLayout::hidden(sel, *n_embd)
            }
            FeatureSource::Logits { .. } => layout.clone(),
        };
        let seg = layout.segment_width();
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for &s in segments {
            match runs.last_mut() {
                Some((start, len)) if *start + *len == s * seg => *len += seg,
                _ => runs.push((s * seg, seg)),
            }
        }
        Ok(Self {
            source: layout.clone(),
            layout: out_layout,
            segments: segments.to_vec(),
            runs,
        })
    }

    /// Selects states (in the model's state numbering) of a hidden-state layout.
    pub fn states(layout: &FeatureLayout, states: &[u32]) -> Result<Self, StoreError> {
        let FeatureSource::Hidden { selection, .. } = &layout.source else {
            return Err(StoreError::BadProjection {
                reason: "a logits layout has no states".into(),
            });
        };
        let positions = states
            .iter()
            .map(|s| {
                selection
                    .states()
                    .iter()
                    .position(|x| x == s)
                    .ok_or_else(|| StoreError::BadProjection {
                        reason: format!(
                            "state {s} is not stored (stored states: {})",
                            crate::features::format_state_list(selection.states())
                        ),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::segments(layout, &positions)
    }

    /// Selects the states a spec such as `last:4` names, resolved for the layout's model.
    pub fn spec(layout: &FeatureLayout, spec: &StateSpec) -> Result<Self, StoreError> {
        let FeatureSource::Hidden { selection, .. } = &layout.source else {
            return Err(StoreError::BadProjection {
                reason: "a logits layout has no states".into(),
            });
        };
        let sel = spec
            .resolve(selection.n_layer())
            .map_err(|e| StoreError::BadProjection {
                reason: e.to_string(),
            })?;
        Self::states(layout, sel.states())
    }

    /// Layout of the projected rows.
    pub fn layout(&self) -> &FeatureLayout {
        &self.layout
    }

    /// The layout this projection reads from.
    pub fn source(&self) -> &FeatureLayout {
        &self.source
    }

    /// Values per projected row.
    pub fn width(&self) -> usize {
        self.layout.width()
    }

    /// Selected segment positions.
    pub fn segment_indices(&self) -> &[usize] {
        &self.segments
    }

    pub(crate) fn check_source(&self, layout: &FeatureLayout) -> Result<(), StoreError> {
        if &self.source != layout {
            return Err(StoreError::BadProjection {
                reason: format!(
                    "made for {} but the store has {}",
                    super::error::describe_layout(&self.source),
                    super::error::describe_layout(layout)
                ),
            });
        }
        Ok(())
    }
}
