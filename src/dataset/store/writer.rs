//! The writing side: buffers one problem's rows as a [`FeatureSink`], commits problems durably,
//! and recovers a store after a crash.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use half::f16;
use half::slice::HalfFloatSliceExt;

use super::chunkio::digest_file_range;
use super::error::StoreError;
use super::format::{
    align_up, chunk_path, digest16, encode_chunk_header, encode_index_header, Block, Manifest,
    ProblemRecord, BYTES_PER_VALUE, CHUNK_HEADER_LEN, DEFAULT_CHUNK_LIMIT, INDEX_FILE,
    INDEX_HEADER_LEN, MANIFEST_FILE, STORE_DIR,
};
use super::scan::{list_chunks, scan, Recovery};
use super::stats::StoreStats;
use crate::features::{FeatureLayout, FeatureSink, SinkError};
use crate::fsutil::write_atomic;

/// Largest finite f16; larger magnitudes are clamped to it and counted.
const F16_MAX: f32 = 65504.0;

/// Options fixed when a store is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    chunk_limit_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            chunk_limit_bytes: DEFAULT_CHUNK_LIMIT,
        }
    }
}

impl StoreOptions {
    /// Default options: 256 MiB chunks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new chunk file before a problem would push the current one past `bytes`. A
    /// problem larger than the limit gets a chunk of its own.
    #[must_use]
    pub fn with_chunk_limit(mut self, bytes: u64) -> Self {
        self.chunk_limit_bytes = bytes;
        self
    }

    /// The chunk size limit in bytes.
    pub fn chunk_limit(&self) -> u64 {
        self.chunk_limit_bytes
    }
}

/// What one commit stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitInfo {
    /// The problem.
    pub problem_index: u64,
    /// Chunk file the rows went to.
    pub chunk: u32,
    /// Candidates.
    pub n_candidates: usize,
    /// Rows over all candidates.
    pub rows: u64,
    /// Chunk bytes of the problem, padding included.
    pub bytes: u64,
    /// Values clamped to ±65504.
    pub saturated: u64,
    /// Non-zero values that became zero.
    pub underflowed: u64,
    /// Largest |value| given, before clamping.
    pub max_abs: f32,
}

/// Rows of the problem being generated, converted to f16 little-endian bytes as they arrive.
struct Pending {
    blocks: Vec<Vec<u8>>,
    rows: Vec<u64>,
    saturated: u64,
    underflowed: u64,
    max_abs: f32,
    ended: bool,
    rejected: Option<String>,
}

struct ActiveChunk {
    id: u32,
    file: File,
    /// Committed length; the file has no bytes past it.
    len: u64,
}

/// Appends problems to a feature store; see the module documentation for the guarantees.
///
/// Use it as the engine's [`FeatureSink`] for one problem at a time (`begin` / `token` / `end`),
/// then call [`commit_problem`](Self::commit_problem). Rows are converted to f16 as they arrive
/// and buffered in memory until the commit: about N · tokens · 2F bytes per problem.
pub struct FeatureWriter {
    root: PathBuf,
    manifest: Manifest,
    manifest_bytes: u64,
    width: usize,
    index: File,
    index_len: u64,
    active: Option<ActiveChunk>,
    records: Vec<ProblemRecord>,
    pending: Option<Pending>,
    /// Buffers of committed problems, kept to avoid reallocating hundreds of megabytes per problem.
    spare: Vec<Vec<u8>>,
    clamped: Vec<f32>,
    halves: Vec<f16>,
    poisoned: Option<String>,
    recovery: Recovery,
}

impl std::fmt::Debug for FeatureWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureWriter")
            .field("root", &self.root)
            .field("width", &self.width)
            .field("problems", &self.records.len())
            .field("pending", &self.pending.is_some())
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl FeatureWriter {
    /// Opens the store in `dir/features` for appending, creating it with `options` if it does
    /// not exist. An existing store must have `layout` and the same chunk limit; its torn tail
    /// (if a previous run crashed) is removed first, as reported by [`recovery`](Self::recovery).
    pub fn create_or_resume(
        dir: &Path,
        layout: &FeatureLayout,
        options: &StoreOptions,
    ) -> Result<Self, StoreError> {
        let root = dir.join(STORE_DIR);
        if !root.join(MANIFEST_FILE).exists() {
            create(&root, layout, options)?;
        }
        let w = Self::resume(dir, layout)?;
        if w.manifest.chunk_limit_bytes != options.chunk_limit_bytes {
            return Err(StoreError::ChunkLimitMismatch {
                path: root.join(MANIFEST_FILE),
                expected: options.chunk_limit_bytes,
                got: w.manifest.chunk_limit_bytes,
            });
        }
        Ok(w)
    }

    /// Opens an existing store in `dir/features` for appending (with the chunk limit it was
    /// created with), after checking its layout and removing a torn tail.
    pub fn resume(dir: &Path, layout: &FeatureLayout) -> Result<Self, StoreError> {
        let root = dir.join(STORE_DIR);
        let s = scan(&root)?;
        let manifest_path = root.join(MANIFEST_FILE);
        if &s.manifest.layout != layout {
            return Err(StoreError::LayoutMismatch {
                path: manifest_path,
                expected: Box::new(layout.clone()),
                got: Box::new(s.manifest.layout.clone()),
            });
        }
        let manifest_bytes = std::fs::metadata(&manifest_path)
            .map_err(StoreError::io(&manifest_path))?
            .len();

        // Remove what lies past the committed prefix, index first: once the index no longer
        // names a problem, its rows are unreachable whatever happens next.
        let index_path = root.join(INDEX_FILE);
        let index = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&index_path)
            .map_err(StoreError::io(&index_path))?;
        let index_file_len = index.metadata().map_err(StoreError::io(&index_path))?.len();
        if index_file_len != s.index_valid_len {
            index
                .set_len(s.index_valid_len)
                .map_err(StoreError::io(&index_path))?;
            index.sync_all().map_err(StoreError::io(&index_path))?;
        }
        let mut removed_files = false;
        for path in &s.recovery.stray_chunks {
            std::fs::remove_file(path).map_err(StoreError::io(path))?;
            removed_files = true;
        }
        if removed_files {
            sync_dir(&root)?;
        }
        // Chunk files are never shrunk: a reader (another process, or a `FeatureStore` opened
        // before a rollback) may have mapped them up to a longer committed length, and a mapped
        // page past the end of a file faults (SIGBUS). Bytes past the committed end stay until
        // the next commit overwrites them; every reader ignores them. Stray chunk files are
        // unlinked, which leaves existing maps of them valid.
        let mut active = None;
        let last_chunk = s.records.last().map(|r| r.chunk);
        for &id in s.chunk_lens.keys() {
            let Some(end) = s.chunk_end(id) else { continue };
            let path = chunk_path(&root, id);
            if Some(id) == last_chunk {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(StoreError::io(&path))?;
                active = Some(ActiveChunk { id, file, len: end });
            }
        }
        if !s.recovery.is_clean() {
            tracing::warn!(store = %root.display(), recovery = ?s.recovery, "feature store recovered from an interrupted run");
        }

        let width = s.manifest.layout.width();
        let w = FeatureWriter {
            width,
            root,
            manifest: s.manifest,
            manifest_bytes,
            index,
            index_len: s.index_valid_len,
            active,
            records: s.records,
            pending: None,
            spare: Vec::new(),
            clamped: Vec::new(),
            halves: vec![f16::ZERO; width],
            poisoned: None,
            recovery: s.recovery,
        };
        w.verify_last()?;
        Ok(w)
    }

    /// Keeps only the first `keep` committed problems and removes the rest, for a caller whose own
    /// records of the later problems were lost. The rollback goes through the index only: it is
    /// cut (which makes the later rows unreachable), then the store is reopened as after a
    /// crash. Chunk files keep their length (a reader may have them mapped); the next commits
    /// overwrite the rolled-back bytes, and chunk files past the new end are unlinked. A reader
    /// opened before the rollback keeps working (its maps stay valid) but may see the
    /// rolled-back problems' bytes replaced; [`FeatureStore::verify`](super::FeatureStore::verify)
    /// then reports a checksum mismatch.
    pub fn truncate_problems(self, keep: usize) -> Result<FeatureWriter, StoreError> {
        if keep >= self.records.len() {
            return Ok(self);
        }
        let len = INDEX_HEADER_LEN
            + self.records[..keep]
                .iter()
                .map(|r| super::format::record_len(r.blocks.len()) as u64)
                .sum::<u64>();
        let index_path = self.root.join(INDEX_FILE);
        self.index
            .set_len(len)
            .map_err(StoreError::io(&index_path))?;
        self.index.sync_all().map_err(StoreError::io(&index_path))?;
        let layout = self.manifest.layout.clone();
        let dir = self
            .root
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        drop(self);
        Self::resume(&dir, &layout)
    }

    /// Problem indices of the committed problems, in commit order.
    pub fn problem_indices(&self) -> impl Iterator<Item = u64> + '_ {
        self.records.iter().map(|r| r.problem_index)
    }

    /// Checks the data checksum of the last committed problem, the one a crash was nearest to.
    fn verify_last(&self) -> Result<(), StoreError> {
        let (Some(rec), Some(active)) = (self.records.last(), &self.active) else {
            return Ok(());
        };
        let path = chunk_path(&self.root, rec.chunk);
        let digest = digest_file_range(&active.file, rec.data_start, rec.data_end)
            .map_err(StoreError::io(&path))?;
        if digest != rec.data_digest {
            return Err(StoreError::ChecksumMismatch {
                path,
                entry: self.records.len() as u64 - 1,
                problem_index: rec.problem_index,
                start: rec.data_start,
                end: rec.data_end,
            });
        }
        Ok(())
    }

    /// The store directory (`dir/features`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The layout of every row.
    pub fn layout(&self) -> &FeatureLayout {
        &self.manifest.layout
    }

    /// The manifest: format version, dtype, layout, chunk limit.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// What opening removed past the committed problems (empty after a clean shutdown).
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Committed problems.
    pub fn n_problems(&self) -> usize {
        self.records.len()
    }

    /// The last committed problem index.
    pub fn last_problem_index(&self) -> Option<u64> {
        self.records.last().map(|r| r.problem_index)
    }

    /// The problem index to collect next: one past the last committed one (0 for a new store).
    pub fn next_problem_index(&self) -> u64 {
        self.last_problem_index().map_or(0, |p| p + 1)
    }

    /// True when `problem_index` is committed.
    pub fn contains(&self, problem_index: u64) -> bool {
        self.records
            .binary_search_by_key(&problem_index, |r| r.problem_index)
            .is_ok()
    }

    /// Sizes and value statistics of the committed problems.
    pub fn stats(&self) -> StoreStats {
        StoreStats::compute(
            &self.records,
            self.width,
            self.index_len,
            self.manifest_bytes,
        )
    }

    /// Committed length of the current chunk (for tests of the recovery arithmetic).
    #[cfg(test)]
    pub(crate) fn active_chunk_len(&self) -> u64 {
        self.active.as_ref().map_or(0, |a| a.len)
    }

    /// Drops the pending problem's rows without storing them.
    pub fn discard_problem(&mut self) {
        if let Some(p) = self.pending.take() {
            self.recycle(p);
        }
    }

    /// Stores the pending problem (everything since `begin`, after `end`) as `problem_index` and
    /// makes it durable before returning: its rows are appended to the current chunk (or a new
    /// one) and synced, then its index record is appended and synced. Indices must increase;
    /// gaps are allowed. If this fails with an I/O error the writer refuses further commits;
    /// reopening it recovers the store to its last committed problem.
    pub fn commit_problem(&mut self, problem_index: u64) -> Result<CommitInfo, StoreError> {
        if let Some(reason) = &self.poisoned {
            return Err(StoreError::Poisoned {
                reason: reason.clone(),
            });
        }
        let p = self.pending.as_ref().ok_or(StoreError::NothingPending)?;
        if let Some(reason) = &p.rejected {
            return Err(StoreError::Rejected {
                reason: reason.clone(),
            });
        }
        if !p.ended {
            return Err(StoreError::NotEnded);
        }
        if let Some(last) = self.last_problem_index() {
            if problem_index <= last {
                return Err(if self.contains(problem_index) {
                    StoreError::AlreadyStored { problem_index }
                } else {
                    StoreError::OutOfOrder {
                        problem_index,
                        last,
                    }
                });
            }
        }
        let p = self.pending.take().expect("checked above");
        let result = self.append(problem_index, &p);
        self.recycle(p);
        if let Err(e) = &result {
            self.poisoned = Some(crate::error_class::chain_text(e));
        }
        result
    }

    fn recycle(&mut self, p: Pending) {
        self.spare.extend(p.blocks.into_iter().map(|mut b| {
            b.clear();
            b
        }));
    }

    /// Block offsets and region end of `p` placed at `start`.
    fn place(&self, start: u64, p: &Pending) -> (Vec<Block>, u64) {
        let mut cur = start;
        let blocks = p
            .blocks
            .iter()
            .zip(&p.rows)
            .map(|(bytes, &n_rows)| {
                let offset = if n_rows > 0 { align_up(cur) } else { cur };
                cur = offset + bytes.len() as u64;
                Block { offset, n_rows }
            })
            .collect();
        (blocks, cur)
    }

    fn append(&mut self, problem_index: u64, p: &Pending) -> Result<CommitInfo, StoreError> {
        let start = self.active.as_ref().map_or(CHUNK_HEADER_LEN, |a| a.len);
        let (mut blocks, mut end) = self.place(start, p);
        let roll = match &self.active {
            None => true,
            Some(a) => a.len > CHUNK_HEADER_LEN && end > self.manifest.chunk_limit_bytes,
        };
        if roll {
            let id = self.active.as_ref().map_or(0, |a| a.id + 1);
            self.active = Some(self.new_chunk(id)?);
            (blocks, end) = self.place(CHUNK_HEADER_LEN, p);
        }
        let active = self
            .active
            .as_mut()
            .expect("a chunk is active after rolling");
        let start = active.len;
        let path = chunk_path(&self.root, active.id);

        // The region: zero padding before each aligned block, then the block.
        let zeros = [0u8; super::format::ALIGN as usize];
        let mut parts: Vec<&[u8]> = Vec::with_capacity(2 * blocks.len());
        let mut cur = start;
        for (blk, bytes) in blocks.iter().zip(&p.blocks) {
            if blk.offset > cur {
                parts.push(&zeros[..(blk.offset - cur) as usize]);
            }
            parts.push(bytes);
            cur = blk.offset + bytes.len() as u64;
        }
        debug_assert_eq!(cur, end);
        let data_digest = digest16(&parts);
        active
            .file
            .seek(SeekFrom::Start(start))
            .map_err(StoreError::io(&path))?;
        for part in &parts {
            active.file.write_all(part).map_err(StoreError::io(&path))?;
        }
        active.file.sync_data().map_err(StoreError::io(&path))?;

        let record = ProblemRecord {
            problem_index,
            chunk: active.id,
            data_start: start,
            data_end: end,
            saturated: p.saturated,
            underflowed: p.underflowed,
            max_abs: p.max_abs,
            blocks,
            data_digest,
        };
        let encoded = record.encode();
        let index_path = self.root.join(INDEX_FILE);
        self.index
            .seek(SeekFrom::Start(self.index_len))
            .map_err(StoreError::io(&index_path))?;
        self.index
            .write_all(&encoded)
            .map_err(StoreError::io(&index_path))?;
        self.index
            .sync_data()
            .map_err(StoreError::io(&index_path))?;

        active.len = end;
        self.index_len += encoded.len() as u64;
        let info = CommitInfo {
            problem_index,
            chunk: record.chunk,
            n_candidates: record.blocks.len(),
            rows: p.rows.iter().sum(),
            bytes: end - start,
            saturated: p.saturated,
            underflowed: p.underflowed,
            max_abs: p.max_abs,
        };
        self.records.push(record);
        Ok(info)
    }

    /// Creates chunk file `id` holding only its header, durably.
    fn new_chunk(&self, id: u32) -> Result<ActiveChunk, StoreError> {
        let path = chunk_path(&self.root, id);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(StoreError::io(&path))?;
        file.write_all(&encode_chunk_header(self.manifest.width, id))
            .map_err(StoreError::io(&path))?;
        file.sync_all().map_err(StoreError::io(&path))?;
        sync_dir(&self.root)?;
        Ok(ActiveChunk {
            id,
            file,
            len: CHUNK_HEADER_LEN,
        })
    }

    fn push_row(
        &mut self,
        candidate: usize,
        position: usize,
        features: &[f32],
    ) -> Result<(), StoreError> {
        let width = self.width;
        let p = self.pending.as_mut().ok_or(StoreError::NothingPending)?;
        if let Some(reason) = &p.rejected {
            return Err(StoreError::Rejected {
                reason: reason.clone(),
            });
        }
        if p.ended {
            return Err(StoreError::Rejected {
                reason: "a row arrived after `end`".into(),
            });
        }
        let n_candidates = p.blocks.len();
        if candidate >= n_candidates {
            return Err(StoreError::CandidateOutOfRange {
                candidate,
                n_candidates,
            });
        }
        let expected = p.rows[candidate] as usize;
        if position != expected {
            return Err(StoreError::PositionGap {
                candidate,
                position,
                expected,
            });
        }
        if features.len() != width {
            return Err(StoreError::WidthMismatch {
                expected: width,
                got: features.len(),
            });
        }
        let mut saturated = 0u64;
        let mut max_abs = 0f32;
        for (column, &x) in features.iter().enumerate() {
            if !x.is_finite() {
                return Err(StoreError::NonFinite {
                    candidate,
                    position,
                    column,
                    value: x,
                });
            }
            let a = x.abs();
            saturated += u64::from(a > F16_MAX);
            max_abs = max_abs.max(a);
        }
        let halves = &mut self.halves[..width];
        if saturated > 0 {
            self.clamped.clear();
            self.clamped
                .extend(features.iter().map(|&x| x.clamp(-F16_MAX, F16_MAX)));
            halves.convert_from_f32_slice(&self.clamped);
        } else {
            halves.convert_from_f32_slice(features);
        }
        let underflowed = features
            .iter()
            .zip(halves.iter())
            .filter(|(&x, h)| x != 0.0 && h.to_bits() & 0x7fff == 0)
            .count() as u64;
        let buf = &mut p.blocks[candidate];
        let at = buf.len();
        buf.resize(at + width * BYTES_PER_VALUE as usize, 0);
        for (dst, h) in buf[at..].chunks_exact_mut(2).zip(halves.iter()) {
            dst.copy_from_slice(&h.to_bits().to_le_bytes());
        }
        p.rows[candidate] += 1;
        p.saturated += saturated;
        p.underflowed += underflowed;
        p.max_abs = p.max_abs.max(max_abs);
        Ok(())
    }
}

impl FeatureSink for FeatureWriter {
    /// Starts buffering a problem; an uncommitted earlier problem is discarded.
    fn begin(&mut self, layout: &FeatureLayout, n_candidates: usize) -> Result<(), SinkError> {
        self.discard_problem();
        if layout != &self.manifest.layout {
            return Err(Box::new(StoreError::LayoutMismatch {
                path: self.root.clone(),
                expected: Box::new(self.manifest.layout.clone()),
                got: Box::new(layout.clone()),
            }));
        }
        let mut blocks = Vec::with_capacity(n_candidates);
        for _ in 0..n_candidates {
            blocks.push(self.spare.pop().unwrap_or_default());
        }
        self.pending = Some(Pending {
            blocks,
            rows: vec![0; n_candidates],
            saturated: 0,
            underflowed: 0,
            max_abs: 0.0,
            ended: false,
            rejected: None,
        });
        Ok(())
    }

    /// Converts and buffers one row. Any error rejects the whole pending problem: it can no
    /// longer be committed, and the next `begin` starts afresh.
    fn token(
        &mut self,
        candidate: usize,
        position: usize,
        features: &[f32],
    ) -> Result<(), SinkError> {
        self.push_row(candidate, position, features).map_err(|e| {
            if let Some(p) = self.pending.as_mut() {
                if p.rejected.is_none() {
                    p.rejected = Some(e.to_string());
                }
            }
            Box::new(e) as SinkError
        })
    }

    fn end(&mut self) -> Result<(), SinkError> {
        let p = self.pending.as_mut().ok_or(StoreError::NothingPending)?;
        p.ended = true;
        Ok(())
    }
}

/// Creates an empty store in `root`: the index header first, the manifest last, each written
/// atomically, so a store exists exactly when its manifest does.
fn create(root: &Path, layout: &FeatureLayout, options: &StoreOptions) -> Result<(), StoreError> {
    std::fs::create_dir_all(root).map_err(StoreError::io(root))?;
    let index_path = root.join(INDEX_FILE);
    let leftover_index = std::fs::metadata(&index_path)
        .map(|m| m.len() > INDEX_HEADER_LEN)
        .unwrap_or(false);
    if leftover_index || !list_chunks(root)?.is_empty() {
        return Err(StoreError::Orphaned {
            path: root.to_path_buf(),
        });
    }
    if layout.width() == 0 {
        return Err(StoreError::BadManifest {
            path: root.join(MANIFEST_FILE),
            reason: "a layout of width 0".into(),
        });
    }
    write_atomic(&index_path, &encode_index_header()).map_err(StoreError::io(&index_path))?;
    let manifest_path = root.join(MANIFEST_FILE);
    let manifest = Manifest::new(layout, options.chunk_limit_bytes);
    write_atomic(&manifest_path, manifest.to_yaml().as_bytes())
        .map_err(StoreError::io(&manifest_path))?;
    sync_dir(root)
}

/// Makes file creations, renames and removals in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(StoreError::io(dir))
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened for syncing here; the rename of fsutil is the best effort.
        let _ = dir;
        Ok(())
    }
}
