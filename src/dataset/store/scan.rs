//! Validation of a store on open: finds the consistent prefix of committed problems and what lies
//! beyond it. Shared by the reader and the writer, which both ignore the tail (the writer cuts a
//! torn index tail, unlinks stray chunks, and overwrites chunk bytes past the committed end).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::StoreError;
use super::format::{
    align_up, check_chunk_header, check_index_header, chunk_path, decode_record,
    parse_chunk_file_name, Decoded, Manifest, ProblemRecord, BYTES_PER_VALUE, CHUNK_HEADER_LEN,
    INDEX_FILE, INDEX_HEADER_LEN, MANIFEST_FILE,
};

/// What opening a store found past its consistent prefix of committed problems. A reader ignores
/// these bytes; a writer cuts the index tail and unlinks stray chunks before appending, and
/// overwrites chunk bytes past the committed end (it never shrinks a chunk file, which a reader
/// may have mapped).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    /// Index bytes past the last complete, valid record (an interrupted append).
    pub index_bytes_dropped: u64,
    /// Why those bytes are not a record.
    pub torn_reason: Option<String>,
    /// Problems whose index records are complete but whose rows are missing from the end of the
    /// last chunk. The write order (rows synced before the record) means a crash cannot cause
    /// this; only a file truncated behind the store's back or a disk that lost synced data can.
    /// These problems are dropped like a torn tail and must be collected again.
    pub lost_problems: Vec<u64>,
    /// Chunk bytes past the last committed problem (rows of a problem whose commit was cut, or of
    /// problems rolled back by `truncate_problems`); left in place and overwritten later.
    pub chunk_bytes_dropped: u64,
    /// Chunk files after the last one that holds a committed problem.
    pub stray_chunks: Vec<PathBuf>,
}

impl Recovery {
    /// True when the store had nothing past its committed problems.
    pub fn is_clean(&self) -> bool {
        self.index_bytes_dropped == 0
            && self.lost_problems.is_empty()
            && self.chunk_bytes_dropped == 0
            && self.stray_chunks.is_empty()
    }
}

/// The result of validating a store directory.
pub(crate) struct Scan {
    pub manifest: Manifest,
    /// Committed problems, in order.
    pub records: Vec<ProblemRecord>,
    /// Index file bytes covered by the header and `records`.
    pub index_valid_len: u64,
    /// Length of every chunk file present, by id.
    pub chunk_lens: BTreeMap<u32, u64>,
    pub recovery: Recovery,
}

impl Scan {
    /// End of the committed bytes of chunk `id`.
    pub fn chunk_end(&self, id: u32) -> Option<u64> {
        self.records
            .iter()
            .rev()
            .find(|r| r.chunk == id)
            .map(|r| r.data_end)
    }
}

/// Validates the store in `root` (the `features` directory).
pub(crate) fn scan(root: &Path) -> Result<Scan, StoreError> {
    let manifest_path = root.join(MANIFEST_FILE);
    let manifest = Manifest::read(&manifest_path)?;
    let row_bytes = manifest.width * BYTES_PER_VALUE;

    let index_path = root.join(INDEX_FILE);
    let index = std::fs::read(&index_path).map_err(StoreError::io(&index_path))?;
    check_index_header(&index, &index_path)?;

    let mut recovery = Recovery::default();
    let mut records: Vec<ProblemRecord> = Vec::new();
    let mut at = INDEX_HEADER_LEN as usize;
    while at < index.len() {
        let entry = records.len() as u64;
        let corrupt = |reason: String| StoreError::CorruptIndex {
            path: index_path.clone(),
            entry,
            offset: at as u64,
            reason,
        };
        match decode_record(&index[at..]) {
            Decoded::Record(rec, len) => {
                check_record(&rec, records.last(), row_bytes).map_err(corrupt)?;
                records.push(rec);
                at += len;
            }
            Decoded::Torn(reason) => {
                recovery.index_bytes_dropped = (index.len() - at) as u64;
                recovery.torn_reason = Some(format!("index entry {entry} at byte {at}: {reason}"));
                break;
            }
            Decoded::Corrupt(reason) => return Err(corrupt(reason)),
        }
    }
    // `at` is the start of the torn bytes, or the end of the file.
    let mut index_valid_len = at as u64;

    let chunk_lens = list_chunks(root)?;
    let len_of = |id: u32| chunk_lens.get(&id).copied().unwrap_or(0);

    // Records whose rows are missing: tolerated only as a suffix inside the last chunk.
    if let Some(first_lost) = records.iter().position(|r| r.data_end > len_of(r.chunk)) {
        let rec = &records[first_lost];
        let last_chunk = records.last().map(|r| r.chunk).unwrap_or(0);
        if rec.chunk != last_chunk {
            return Err(StoreError::MissingData {
                path: chunk_path(root, rec.chunk),
                entry: first_lost as u64,
                problem_index: rec.problem_index,
                needed: rec.data_end,
                len: len_of(rec.chunk),
            });
        }
        recovery.lost_problems = records[first_lost..]
            .iter()
            .map(|r| r.problem_index)
            .collect();
        records.truncate(first_lost);
        index_valid_len = index_offset_of(&records);
        recovery.index_bytes_dropped = index.len() as u64 - index_valid_len;
    }

    let last_chunk = records.last().map(|r| r.chunk);
    for (&id, &len) in &chunk_lens {
        match last_chunk {
            Some(last) if id <= last => {
                let path = chunk_path(root, id);
                let mut header = [0u8; CHUNK_HEADER_LEN as usize];
                let mut f = std::fs::File::open(&path).map_err(StoreError::io(&path))?;
                let got = read_up_to(&mut f, &mut header).map_err(StoreError::io(&path))?;
                check_chunk_header(&header[..got], manifest.width, id, &path)?;
                let end = records
                    .iter()
                    .rev()
                    .find(|r| r.chunk == id)
                    .map(|r| r.data_end)
                    .unwrap_or(0);
                recovery.chunk_bytes_dropped += len - end;
            }
            _ => recovery.stray_chunks.push(chunk_path(root, id)),
        }
    }
    if let Some(last) = last_chunk {
        // Every id up to the last one holds a record (ids advance by one), so each must exist.
        for id in 0..=last {
            if !chunk_lens.contains_key(&id) {
                let rec = records.iter().position(|r| r.chunk == id).unwrap_or(0);
                return Err(StoreError::MissingData {
                    path: chunk_path(root, id),
                    entry: rec as u64,
                    problem_index: records[rec].problem_index,
                    needed: records[rec].data_end,
                    len: 0,
                });
            }
        }
    }

    Ok(Scan {
        manifest,
        records,
        index_valid_len,
        chunk_lens,
        recovery,
    })
}

/// Byte length of an index holding exactly `records`.
fn index_offset_of(records: &[ProblemRecord]) -> u64 {
    INDEX_HEADER_LEN
        + records
            .iter()
            .map(|r| super::format::record_len(r.blocks.len()) as u64)
            .sum::<u64>()
}

/// Checks a checksum-valid record against its predecessor and the layout rules the writer follows.
fn check_record(
    r: &ProblemRecord,
    prev: Option<&ProblemRecord>,
    row_bytes: u64,
) -> Result<(), String> {
    match prev {
        None => {
            if r.chunk != 0 || r.data_start != CHUNK_HEADER_LEN {
                return Err(format!(
                    "the first problem must start chunk 0 at byte {CHUNK_HEADER_LEN}, got chunk {} byte {}",
                    r.chunk, r.data_start
                ));
            }
        }
        Some(p) => {
            if r.problem_index <= p.problem_index {
                return Err(format!(
                    "problem index {} does not increase (previous entry is problem {})",
                    r.problem_index, p.problem_index
                ));
            }
            let continues = r.chunk == p.chunk && r.data_start == p.data_end;
            let rolls = r.chunk == p.chunk.wrapping_add(1) && r.data_start == CHUNK_HEADER_LEN;
            if !continues && !rolls {
                return Err(format!(
                    "region chunk {} byte {} does not follow the previous one (chunk {}, end {})",
                    r.chunk, r.data_start, p.chunk, p.data_end
                ));
            }
        }
    }
    let mut cur = r.data_start;
    for (c, b) in r.blocks.iter().enumerate() {
        let bytes = b
            .n_rows
            .checked_mul(row_bytes)
            .ok_or_else(|| format!("candidate {c}: {} rows overflow", b.n_rows))?;
        let expected = if b.n_rows > 0 { align_up(cur) } else { cur };
        if b.offset != expected {
            return Err(format!(
                "candidate {c}: block offset {} but expected {expected}",
                b.offset
            ));
        }
        cur = b
            .offset
            .checked_add(bytes)
            .ok_or_else(|| format!("candidate {c}: block end overflows"))?;
    }
    if r.data_end != cur {
        return Err(format!(
            "region end {} but its blocks end at {cur}",
            r.data_end
        ));
    }
    if r.max_abs.is_nan() || r.max_abs < 0.0 {
        return Err(format!("max |x| {} is not a magnitude", r.max_abs));
    }
    Ok(())
}

/// Chunk files in `root` by id, with their lengths.
pub(crate) fn list_chunks(root: &Path) -> Result<BTreeMap<u32, u64>, StoreError> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(root).map_err(StoreError::io(root))? {
        let entry = entry.map_err(StoreError::io(root))?;
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(parse_chunk_file_name) else {
            continue;
        };
        let len = entry
            .metadata()
            .map_err(StoreError::io(entry.path()))?
            .len();
        out.insert(id, len);
    }
    Ok(out)
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}
