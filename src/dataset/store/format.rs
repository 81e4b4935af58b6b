//! The bytes on disk: manifest, chunk header, index header and index records.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::StoreError;
use crate::features::FeatureLayout;

/// Sub-directory of a collection directory that holds the store.
pub const STORE_DIR: &str = "features";
/// Manifest file name.
pub const MANIFEST_FILE: &str = "store.yaml";
/// Index file name.
pub const INDEX_FILE: &str = "index.bin";
/// Version of the on-disk format written by this build.
pub const FORMAT_VERSION: u32 = 1;
/// Alignment of every non-empty candidate block within a chunk file.
pub const ALIGN: u64 = 64;
/// Bytes of a chunk file's header; the first block starts right after it.
pub const CHUNK_HEADER_LEN: u64 = 64;
/// Bytes of the index file's header.
pub const INDEX_HEADER_LEN: u64 = 16;
/// Default chunk size limit: a new chunk is started before a problem would cross it.
pub const DEFAULT_CHUNK_LIMIT: u64 = 256 << 20;
/// Bytes of one stored feature value (f16).
pub const BYTES_PER_VALUE: u64 = 2;

pub(crate) const CHUNK_MAGIC: [u8; 8] = *b"SWBFEAT\0";
pub(crate) const INDEX_MAGIC: [u8; 8] = *b"SWBFIDX\0";
pub(crate) const RECORD_MAGIC: [u8; 4] = *b"PREC";
pub(crate) const DTYPE_F16_CODE: u32 = 1;
/// Fixed part of an index record, before the per-candidate entries.
pub(crate) const RECORD_FIXED: usize = 64;
/// Bytes per candidate entry in an index record: offset u64, rows u64.
pub(crate) const RECORD_PER_CANDIDATE: usize = 16;
/// Truncated sha256 digests: data digest + record digest.
pub(crate) const DIGEST_LEN: usize = 16;

/// Element type of the stored rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Dtype {
    /// IEEE 754 binary16, little-endian.
    F16,
}

/// Contents of `features/store.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// On-disk format version.
    pub format_version: u32,
    /// Element type of the rows.
    pub dtype: Dtype,
    /// Values per row (F); redundant with the layout, checked on open.
    pub width: u64,
    /// Layout of every row.
    pub layout: FeatureLayout,
    /// A new chunk is started before a problem would push a chunk past this many bytes.
    pub chunk_limit_bytes: u64,
    /// Alignment of candidate blocks in chunk files.
    pub alignment: u64,
}

impl Manifest {
    pub(crate) fn new(layout: &FeatureLayout, chunk_limit_bytes: u64) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            dtype: Dtype::F16,
            width: layout.width() as u64,
            layout: layout.clone(),
            chunk_limit_bytes,
            alignment: ALIGN,
        }
    }

    pub(crate) fn to_yaml(&self) -> String {
        let body = crate::yaml::to_string(self).expect("a manifest always serialises");
        format!("# swift-bon feature store: rows in chunk-*.bin (f16), one record per problem in {INDEX_FILE}\n{body}")
    }

    pub(crate) fn read(path: &Path) -> Result<Self, StoreError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotAStore {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(StoreError::io(path)(e)),
        };
        // The version is checked before the rest so that a newer format is reported as such.
        #[derive(Deserialize)]
        struct VersionOnly {
            format_version: u32,
        }
        let bad = |reason: String| StoreError::BadManifest {
            path: path.to_path_buf(),
            reason,
        };
        let v: VersionOnly = crate::yaml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if v.format_version != FORMAT_VERSION {
            return Err(StoreError::UnsupportedVersion {
                path: path.to_path_buf(),
                expected: FORMAT_VERSION,
                got: v.format_version,
            });
        }
        let m: Manifest = crate::yaml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if m.width != m.layout.width() as u64 {
            return Err(bad(format!(
                "width {} but the layout has {} values per row",
                m.width,
                m.layout.width()
            )));
        }
        if m.width == 0 {
            return Err(bad("width 0".into()));
        }
        if m.alignment != ALIGN {
            return Err(bad(format!(
                "alignment {} (this build writes {ALIGN})",
                m.alignment
            )));
        }
        Ok(m)
    }
}

/// File name of chunk `id`.
pub fn chunk_file_name(id: u32) -> String {
    format!("chunk-{id:05}.bin")
}

/// Chunk id from a file name written by [`chunk_file_name`].
pub(crate) fn parse_chunk_file_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("chunk-")?.strip_suffix(".bin")?;
    if digits.len() < 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn chunk_path(root: &Path, id: u32) -> PathBuf {
    root.join(chunk_file_name(id))
}

/// Rounds `x` up to the block alignment.
pub(crate) fn align_up(x: u64) -> u64 {
    x.div_ceil(ALIGN) * ALIGN
}

pub(crate) fn digest16(parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    let mut h = Digest16::new();
    for p in parts {
        h.update(p);
    }
    h.finish()
}

/// Truncated sha256, fed in pieces.
pub(crate) struct Digest16(Sha256);

impl Digest16 {
    pub fn new() -> Self {
        Self(Sha256::new())
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> [u8; DIGEST_LEN] {
        let full = self.0.finalize();
        let mut out = [0u8; DIGEST_LEN];
        out.copy_from_slice(&full[..DIGEST_LEN]);
        out
    }
}

/// Header of a chunk file (64 bytes):
/// magic `SWBFEAT\0`, version u32, dtype u32 (1 = f16), width u64, chunk id u32, alignment u32,
/// then zeros. All integers little-endian.
pub(crate) fn encode_chunk_header(width: u64, id: u32) -> [u8; CHUNK_HEADER_LEN as usize] {
    let mut h = [0u8; CHUNK_HEADER_LEN as usize];
    h[0..8].copy_from_slice(&CHUNK_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&DTYPE_F16_CODE.to_le_bytes());
    h[16..24].copy_from_slice(&width.to_le_bytes());
    h[24..28].copy_from_slice(&id.to_le_bytes());
    h[28..32].copy_from_slice(&(ALIGN as u32).to_le_bytes());
    h
}

pub(crate) fn check_chunk_header(
    bytes: &[u8],
    width: u64,
    id: u32,
    path: &Path,
) -> Result<(), StoreError> {
    let bad = |reason: String| StoreError::BadChunkHeader {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() < CHUNK_HEADER_LEN as usize {
        return Err(bad(format!(
            "file has {} bytes, a header needs {CHUNK_HEADER_LEN}",
            bytes.len()
        )));
    }
    if bytes[0..8] != CHUNK_MAGIC {
        return Err(bad("wrong magic (not a swift-bon feature chunk)".into()));
    }
    let version = u32_at(bytes, 8);
    if version != FORMAT_VERSION {
        return Err(StoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            expected: FORMAT_VERSION,
            got: version,
        });
    }
    let expected = encode_chunk_header(width, id);
    if bytes[..CHUNK_HEADER_LEN as usize] != expected {
        return Err(bad(format!(
            "expected dtype f16, width {width}, chunk {id}, alignment {ALIGN}; got dtype code {}, width {}, chunk {}, alignment {}",
            u32_at(bytes, 12),
            u64_at(bytes, 16),
            u32_at(bytes, 24),
            u32_at(bytes, 28)
        )));
    }
    Ok(())
}

/// Header of the index file (16 bytes): magic `SWBFIDX\0`, version u32, reserved u32.
pub(crate) fn encode_index_header() -> [u8; INDEX_HEADER_LEN as usize] {
    let mut h = [0u8; INDEX_HEADER_LEN as usize];
    h[0..8].copy_from_slice(&INDEX_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

pub(crate) fn check_index_header(bytes: &[u8], path: &Path) -> Result<(), StoreError> {
    let bad = |reason: String| StoreError::BadIndexHeader {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() < INDEX_HEADER_LEN as usize {
        return Err(bad(format!(
            "file has {} bytes, a header needs {INDEX_HEADER_LEN}",
            bytes.len()
        )));
    }
    if bytes[0..8] != INDEX_MAGIC {
        return Err(bad("wrong magic (not a swift-bon feature index)".into()));
    }
    let version = u32_at(bytes, 8);
    if version != FORMAT_VERSION {
        return Err(StoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            expected: FORMAT_VERSION,
            got: version,
        });
    }
    if u32_at(bytes, 12) != 0 {
        return Err(bad("reserved field is not zero".into()));
    }
    Ok(())
}

/// Where one candidate's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    /// Byte offset in the chunk (aligned when `n_rows > 0`).
    pub offset: u64,
    /// Rows.
    pub n_rows: u64,
}

/// One problem's index record: its region of a chunk and its candidates' blocks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProblemRecord {
    pub problem_index: u64,
    pub chunk: u32,
    /// First byte of the problem's region (the previous problem's end, or the header's end).
    pub data_start: u64,
    /// One past the last byte of the region.
    pub data_end: u64,
    /// Values clamped to ±65504.
    pub saturated: u64,
    /// Non-zero values that became zero.
    pub underflowed: u64,
    /// Largest |value| given (before clamping).
    pub max_abs: f32,
    pub blocks: Vec<Block>,
    /// Truncated sha256 of the region's bytes.
    pub data_digest: [u8; DIGEST_LEN],
}

pub(crate) fn record_len(n_candidates: usize) -> usize {
    RECORD_FIXED + RECORD_PER_CANDIDATE * n_candidates + 2 * DIGEST_LEN
}

impl ProblemRecord {
    /// Layout (little-endian):
    /// ```text
    ///  0  magic "PREC"        4  record length u32   8  problem index u64
    /// 16  chunk u32          20  candidates u32     24  data start u64
    /// 32  data end u64       40  saturated u64      48  underflowed u64
    /// 56  max |x| f32 bits   60  reserved u32 (0)
    /// 64  per candidate: offset u64, rows u64
    ///     data digest (16 bytes: sha256 of the region, truncated)
    ///     record digest (16 bytes: sha256 of all preceding bytes of the record, truncated)
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let n = self.blocks.len();
        let len = record_len(n);
        let mut b = Vec::with_capacity(len);
        b.extend_from_slice(&RECORD_MAGIC);
        b.extend_from_slice(&(len as u32).to_le_bytes());
        b.extend_from_slice(&self.problem_index.to_le_bytes());
        b.extend_from_slice(&self.chunk.to_le_bytes());
        b.extend_from_slice(&(n as u32).to_le_bytes());
        b.extend_from_slice(&self.data_start.to_le_bytes());
        b.extend_from_slice(&self.data_end.to_le_bytes());
        b.extend_from_slice(&self.saturated.to_le_bytes());
        b.extend_from_slice(&self.underflowed.to_le_bytes());
        b.extend_from_slice(&self.max_abs.to_bits().to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        for blk in &self.blocks {
            b.extend_from_slice(&blk.offset.to_le_bytes());
            b.extend_from_slice(&blk.n_rows.to_le_bytes());
        }
        b.extend_from_slice(&self.data_digest);
        let check = digest16(&[&b]);
        b.extend_from_slice(&check);
        debug_assert_eq!(b.len(), len);
        b
    }
}

/// Outcome of decoding the bytes at one position of the index.
pub(crate) enum Decoded {
    /// A complete, checksum-valid record and its length in bytes.
    Record(ProblemRecord, usize),
    /// The bytes are what an interrupted append leaves: zeros to the end of the file, fewer bytes
    /// than a record header, or a record with an intact header that runs past the end of the
    /// file or fails its checksum with only zeros after it.
    Torn(String),
    /// Damage a crash cannot explain.
    Corrupt(String),
}

/// Decodes the record at the start of `rest` (the index bytes from this record to end of file).
pub(crate) fn decode_record(rest: &[u8]) -> Decoded {
    if rest.iter().all(|&b| b == 0) {
        return Decoded::Torn(format!("{} zero bytes at the end of the file", rest.len()));
    }
    if rest.len() < RECORD_FIXED {
        return Decoded::Torn(format!(
            "{} bytes, shorter than a record header",
            rest.len()
        ));
    }
    if rest[0..4] != RECORD_MAGIC {
        return Decoded::Corrupt("wrong record magic".into());
    }
    let len = u32_at(rest, 4) as usize;
    let n = u32_at(rest, 20) as usize;
    if len != record_len(n) {
        return Decoded::Corrupt(format!(
            "record length {len} disagrees with its {n} candidates (expected {})",
            record_len(n)
        ));
    }
    if len > rest.len() {
        return Decoded::Torn(format!(
            "record of {len} bytes but only {} remain",
            rest.len()
        ));
    }
    let body = &rest[..len];
    let check = digest16(&[&body[..len - DIGEST_LEN]]);
    if check[..] != body[len - DIGEST_LEN..] {
        // An interrupted append leaves the record's prefix, possibly followed by zeros where the
        // file grew but the data never landed; nothing else can follow a torn record.
        return if rest[len..].iter().all(|&b| b == 0) {
            Decoded::Torn(
                "the last record's checksum does not match (an interrupted append)".into(),
            )
        } else {
            Decoded::Corrupt("record checksum mismatch".into())
        };
    }
    if u32_at(body, 60) != 0 {
        return Decoded::Corrupt("reserved field is not zero".into());
    }
    let blocks = (0..n)
        .map(|i| {
            let at = RECORD_FIXED + RECORD_PER_CANDIDATE * i;
            Block {
                offset: u64_at(body, at),
                n_rows: u64_at(body, at + 8),
            }
        })
        .collect();
    let mut data_digest = [0u8; DIGEST_LEN];
    let d = len - 2 * DIGEST_LEN;
    data_digest.copy_from_slice(&body[d..d + DIGEST_LEN]);
    Decoded::Record(
        ProblemRecord {
            problem_index: u64_at(body, 8),
            chunk: u32_at(body, 16),
            data_start: u64_at(body, 24),
            data_end: u64_at(body, 32),
            saturated: u64_at(body, 40),
            underflowed: u64_at(body, 48),
            max_abs: f32::from_bits(u32_at(body, 56)),
            blocks,
            data_digest,
        },
        len,
    )
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
