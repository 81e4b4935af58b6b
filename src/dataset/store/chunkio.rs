//! Reading chunk bytes: memory-mapped, or positioned reads (pread) as a fallback and for tests.
//!
//! This file holds the store's only `unsafe` block, the call to `memmap2`'s `map`; `unsafe_code`
//! is denied crate-wide (`[lints]` in Cargo.toml) and allowed only on that function.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapOptions};

use super::error::StoreError;
use super::format::{Digest16, DIGEST_LEN};

/// Bytes hashed per read when checksumming a region with positioned reads.
const HASH_PIECE: u64 = 8 << 20;

/// How a reader gets at chunk bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReadMode {
    /// Memory-map each chunk; fall back to positioned reads if mapping fails.
    #[default]
    Auto,
    /// Memory-map each chunk; an error if mapping fails.
    Mmap,
    /// Positioned reads (pread) into a buffer; no mapping.
    Pread,
}

/// The committed bytes of one chunk file.
pub(crate) struct ChunkData {
    path: PathBuf,
    /// Committed length: bytes past it are never read.
    len: u64,
    source: Source,
}

enum Source {
    Mapped(Mmap),
    File(File),
}

impl ChunkData {
    /// Opens the first `len` bytes of the chunk at `path` (the file may be longer).
    pub fn open(path: &Path, len: u64, mode: ReadMode) -> Result<Self, StoreError> {
        let file = File::open(path).map_err(StoreError::io(path))?;
        let source = match mode {
            ReadMode::Pread => Source::File(file),
            ReadMode::Mmap => {
                Source::Mapped(map_read_only(&file, len).map_err(StoreError::io(path))?)
            }
            ReadMode::Auto => match map_read_only(&file, len) {
                Ok(m) => Source::Mapped(m),
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "mmap failed, reading with pread");
                    Source::File(file)
                }
            },
        };
        Ok(Self {
            path: path.to_path_buf(),
            len,
            source,
        })
    }

    /// True when the chunk is memory-mapped.
    pub fn is_mapped(&self) -> bool {
        matches!(self.source, Source::Mapped(_))
    }

    /// The bytes `offset..offset + len`: borrowed from the map, or read into `scratch`.
    pub fn bytes<'a>(
        &'a self,
        offset: u64,
        len: usize,
        scratch: &'a mut Vec<u8>,
    ) -> Result<&'a [u8], StoreError> {
        let end = offset
            .checked_add(len as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| StoreError::Io {
                path: self.path.clone(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "read of {len} bytes at {offset} past the committed length {}",
                        self.len
                    ),
                ),
            })?;
        match &self.source {
            Source::Mapped(m) => Ok(&m[offset as usize..end as usize]),
            Source::File(f) => {
                scratch.clear();
                scratch.resize(len, 0);
                read_exact_at(f, scratch, offset).map_err(StoreError::io(&self.path))?;
                Ok(scratch)
            }
        }
    }

    /// Truncated sha256 of the bytes `start..end`, read in bounded pieces.
    pub fn digest(&self, start: u64, end: u64) -> Result<[u8; DIGEST_LEN], StoreError> {
        match &self.source {
            Source::Mapped(_) => {
                let mut unused = Vec::new();
                let bytes = self.bytes(start, (end - start) as usize, &mut unused)?;
                let mut h = Digest16::new();
                h.update(bytes);
                Ok(h.finish())
            }
            Source::File(f) => digest_file_range(f, start, end).map_err(StoreError::io(&self.path)),
        }
    }
}

/// Truncated sha256 of `file`'s bytes `start..end`, read in pieces of at most 8 MiB.
pub(crate) fn digest_file_range(file: &File, start: u64, end: u64) -> io::Result<[u8; DIGEST_LEN]> {
    let mut h = Digest16::new();
    let mut buf = vec![0u8; (end - start).min(HASH_PIECE) as usize];
    let mut at = start;
    while at < end {
        let n = (end - at).min(HASH_PIECE) as usize;
        read_exact_at(file, &mut buf[..n], at)?;
        h.update(&buf[..n]);
        at += n as u64;
    }
    Ok(h.finish())
}

/// Maps the first `len` bytes of `file` read-only.
#[allow(unsafe_code)]
fn map_read_only(file: &File, len: u64) -> io::Result<Mmap> {
    let len = usize::try_from(len)
        .map_err(|_| io::Error::other("chunk too large to map on this platform"))?;
    // SAFETY: `Mmap::map` is unsafe because the mapped file may change under the map. The store
    // opens chunk files read-only here and maps only the committed length. Its writer never
    // shrinks a chunk file (not on recovery, not on `truncate_problems`, which rolls back
    // through the index only), so every mapped page stays backed by the file and reads never
    // fault; it only unlinks stray chunk files, which leaves existing maps valid. The writer
    // writes past the committed end, and after a rollback it overwrites rolled-back bytes that
    // an older reader may still map: that reader then reads other (initialised) bytes, which its
    // checksums detect, never undefined memory. A file truncated by another program while
    // mapped still makes reads fault (SIGBUS); readers that cannot rule this out use
    // `ReadMode::Pread`.
    unsafe { MmapOptions::new().len(len).map(file) }
}

/// Fills `buf` from `file` at `offset`, without moving a shared cursor (so `&File` suffices and
/// readers on several threads do not interfere).
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            match std::os::windows::fs::FileExt::seek_read(
                file,
                &mut buf[done..],
                offset + done as u64,
            )? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "chunk ended early",
                    ))
                }
                n => done += n,
            }
        }
        Ok(())
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = (file, buf, offset);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "positioned reads are not supported on this platform",
        ))
    }
}
