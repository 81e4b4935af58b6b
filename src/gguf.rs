//! A bounds-checked walk over a GGUF file's header, metadata and tensor table, done before
//! llama.cpp sees the file.
//!
//! llama.cpp's own parser checks a lot, but it runs in C++ and a file it misreads takes the
//! process with it. This walk reads every length and count in the header and refuses any that
//! claims more bytes than the file has left before anything is allocated or skipped, so a small
//! file that says it holds 2^60 strings costs nothing. It checks what llama.cpp would refuse
//! anyway (version, key and tensor name rules, dimensions, tensor types, sequential aligned
//! offsets, data inside the file) and returns a short summary. It allocates at most one key or
//! tensor name (64 KiB) at a time plus a set of names.
//!
//! Pure Rust, no llama.cpp: it lives below the engine and is fuzzed (`tests/fuzz.rs`).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Versions llama.cpp reads (1 is refused by llama.cpp itself).
const VERSIONS: [u32; 2] = [2, 3];
/// Longest key accepted (llama.cpp keys are short; this only bounds the allocation).
const MAX_KEY_BYTES: u64 = 64 << 10;
/// ggml's `GGML_MAX_NAME`: tensor names are shorter than this.
const MAX_TENSOR_NAME: u64 = 64;
/// ggml's `GGML_MAX_DIMS`.
const MAX_DIMS: u32 = 4;
/// ggml's `GGML_TYPE_COUNT` for the vendored llama.cpp.
const TYPE_COUNT: u32 = 43;
/// Nesting of arrays of arrays (GGUF allows it; nothing real nests deeper than 1).
const MAX_ARRAY_DEPTH: u32 = 4;
const DEFAULT_ALIGNMENT: u64 = 32;

/// Why a file is not a GGUF file llama.cpp can safely be handed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {reason}")]
pub struct GgufError {
    /// Byte offset of the field that is wrong.
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
}

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufSummary {
    /// Format version.
    pub version: u32,
    /// Metadata entries.
    pub n_kv: u64,
    /// Tensors.
    pub n_tensors: u64,
    /// `general.architecture`, when present as a string.
    pub architecture: Option<String>,
    /// Start of the tensor data section.
    pub data_offset: u64,
}

/// A model file that fails [`check_file`].
#[derive(Debug, thiserror::Error)]
#[error("{path} is not a GGUF model file llama.cpp can load")]
pub struct GgufFileError {
    /// The file.
    pub path: std::path::PathBuf,
    /// What is wrong, and where.
    #[source]
    pub error: GgufError,
}

/// Checks the GGUF file at `path` (see the module documentation).
pub fn check_file(path: &Path) -> Result<GgufSummary, GgufFileError> {
    let wrap = |error: GgufError| GgufFileError {
        path: path.to_path_buf(),
        error,
    };
    let io = |what: &str, e: std::io::Error| {
        wrap(GgufError {
            offset: 0,
            reason: format!("cannot {what}: {e}"),
        })
    };
    let file = File::open(path).map_err(|e| io("open", e))?;
    let len = file.metadata().map_err(|e| io("stat", e))?.len();
    check(BufReader::with_capacity(1 << 16, file), len).map_err(wrap)
}

/// Checks GGUF bytes read from `r`, which holds `len` bytes from its current position.
pub fn check<R: Read + Seek>(r: R, len: u64) -> Result<GgufSummary, GgufError> {
    let mut c = Cursor { r, pos: 0, len };
    let mut magic = [0u8; 4];
    c.bytes(&mut magic)?;
    if &magic != b"GGUF" {
        return Err(c.err_at(0, format!("it starts with {magic:?}, not \"GGUF\"")));
    }
    let version = c.u32()?;
    if !VERSIONS.contains(&version) {
        return Err(c.err_at(
            4,
            format!("version {version} is not supported (llama.cpp reads 2 and 3)"),
        ));
    }
    let n_tensors = c.u64()?;
    let n_kv = c.u64()?;
    // Each entry needs at least a few bytes: a count beyond what the file could hold is refused
    // before any loop trusts it.
    c.count_fits(n_kv, 8 + 4, "metadata entries")?;
    c.count_fits(n_tensors, 8 + 4 + 4 + 8, "tensors")?;

    let mut keys: HashSet<Vec<u8>> = HashSet::new();
    let mut alignment = DEFAULT_ALIGNMENT;
    let mut architecture = None;
    for i in 0..n_kv {
        let at = c.pos;
        let key = c.string(MAX_KEY_BYTES, "key")?;
        if key.is_empty() {
            return Err(c.err_at(at, format!("metadata entry {i} has an empty key")));
        }
        let ty_at = c.pos;
        let ty = c.u32()?;
        if key == b"general.alignment" {
            if ty != 4 {
                return Err(c.err_at(ty_at, "general.alignment must be a uint32".into()));
            }
            let a = c.u32()?;
            if a == 0 || !a.is_power_of_two() {
                return Err(c.err_at(ty_at + 4, format!("alignment {a} is not a power of 2")));
            }
            alignment = u64::from(a);
        } else if key == b"general.architecture" && ty == 8 {
            let name = c.string(MAX_KEY_BYTES, "architecture")?;
            architecture = Some(String::from_utf8_lossy(&name).into_owned());
        } else {
            c.skip_value(ty, 0)?;
        }
        if !keys.insert(key) {
            return Err(c.err_at(at, format!("metadata entry {i} repeats a key")));
        }
    }

    let mut names: HashSet<Vec<u8>> = HashSet::new();
    let mut expected_offset = Some(0u64);
    let mut tensors: Vec<(u64, u64)> = Vec::new(); // (offset, bytes) when the size is known
    for i in 0..n_tensors {
        let at = c.pos;
        let name = c.string(MAX_KEY_BYTES, "tensor name")?;
        if name.len() as u64 >= MAX_TENSOR_NAME {
            return Err(c.err_at(
                at,
                format!("tensor {i}: name of {} bytes is too long", name.len()),
            ));
        }
        if !names.insert(name) {
            return Err(c.err_at(at, format!("tensor {i} repeats a name")));
        }
        let dims_at = c.pos;
        let n_dims = c.u32()?;
        if n_dims > MAX_DIMS {
            return Err(c.err_at(
                dims_at,
                format!("tensor {i} has {n_dims} dimensions (at most {MAX_DIMS})"),
            ));
        }
        let mut numel: u64 = 1;
        let mut ne0 = 1u64;
        for d in 0..n_dims {
            let ne = c.u64()?;
            if ne > i64::MAX as u64 {
                return Err(c.err_at(c.pos - 8, format!("tensor {i}: dimension {ne} is negative")));
            }
            if d == 0 {
                ne0 = ne;
            }
            numel = numel
                .checked_mul(ne)
                .filter(|&n| n <= i64::MAX as u64)
                .ok_or_else(|| {
                    c.err_at(c.pos - 8, format!("tensor {i}: element count overflows"))
                })?;
        }
        let ty_at = c.pos;
        let ty = c.u32()?;
        if ty >= TYPE_COUNT {
            return Err(c.err_at(ty_at, format!("tensor {i} has unknown ggml type {ty}")));
        }
        let offset_at = c.pos;
        let offset = c.u64()?;
        if offset % alignment != 0 {
            return Err(c.err_at(
                offset_at,
                format!(
                    "tensor {i}: offset {offset} is not a multiple of the alignment {alignment}"
                ),
            ));
        }
        match type_layout(ty) {
            Some((block, size)) => {
                if ne0 % block != 0 {
                    return Err(c.err_at(
                        ty_at,
                        format!("tensor {i}: {ne0} elements per row is not a multiple of the block size {block}"),
                    ));
                }
                let bytes = (numel / block)
                    .checked_mul(size)
                    .ok_or_else(|| c.err_at(ty_at, format!("tensor {i}: byte size overflows")))?;
                if let Some(expected) = expected_offset {
                    if offset != expected {
                        return Err(c.err_at(
                            offset_at,
                            format!("tensor {i}: offset {offset}, expected {expected}"),
                        ));
                    }
                }
                let padded = bytes
                    .checked_next_multiple_of(alignment)
                    .ok_or_else(|| c.err_at(ty_at, format!("tensor {i}: byte size overflows")))?;
                expected_offset = expected_offset.and_then(|e| e.checked_add(padded));
                tensors.push((offset, bytes));
            }
            // A type whose block layout this check does not know: the offsets after it are
            // left to llama.cpp, but the offset itself must still lie in the file.
            None => {
                expected_offset = None;
                tensors.push((offset, 0));
            }
        }
    }
    let data_offset = if n_tensors > 0 {
        c.pos.next_multiple_of(alignment)
    } else {
        c.pos
    };
    for (i, &(offset, bytes)) in tensors.iter().enumerate() {
        data_offset
            .checked_add(offset)
            .and_then(|s| s.checked_add(bytes))
            .filter(|&e| e <= len)
            .ok_or_else(|| GgufError {
                offset: data_offset,
                reason: format!(
                    "tensor {i}'s data ({bytes} bytes at {offset} past the data start {data_offset}) runs past the end of the file ({len} bytes): truncated?"
                ),
            })?;
    }
    Ok(GgufSummary {
        version,
        n_kv,
        n_tensors,
        architecture,
        data_offset,
    })
}

/// (block size, bytes per block) of the ggml types whose layout is fixed and known here.
fn type_layout(ty: u32) -> Option<(u64, u64)> {
    Some(match ty {
        0 => (1, 4),      // F32
        1 => (1, 2),      // F16
        2 => (32, 18),    // Q4_0
        3 => (32, 20),    // Q4_1
        6 => (32, 22),    // Q5_0
        7 => (32, 24),    // Q5_1
        8 => (32, 34),    // Q8_0
        9 => (32, 36),    // Q8_1
        10 => (256, 84),  // Q2_K
        11 => (256, 110), // Q3_K
        12 => (256, 144), // Q4_K
        13 => (256, 176), // Q5_K
        14 => (256, 210), // Q6_K
        15 => (256, 292), // Q8_K
        24 => (1, 1),     // I8
        25 => (1, 2),     // I16
        26 => (1, 4),     // I32
        27 => (1, 8),     // I64
        28 => (1, 8),     // F64
        30 => (1, 2),     // BF16
        _ => return None,
    })
}

struct Cursor<R> {
    r: R,
    pos: u64,
    len: u64,
}

impl<R: Read + Seek> Cursor<R> {
    fn err_at(&self, offset: u64, reason: String) -> GgufError {
        GgufError { offset, reason }
    }

    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn need(&self, n: u64, what: &str) -> Result<(), GgufError> {
        if n > self.remaining() {
            return Err(self.err_at(
                self.pos,
                format!(
                    "{what} claims {n} bytes but only {} remain in the file: truncated or corrupt",
                    self.remaining()
                ),
            ));
        }
        Ok(())
    }

    fn count_fits(&self, count: u64, min_each: u64, what: &str) -> Result<(), GgufError> {
        match count.checked_mul(min_each) {
            Some(n) if n <= self.remaining() => Ok(()),
            _ => Err(self.err_at(
                self.pos,
                format!(
                    "{count} {what} cannot fit in the {} bytes left in the file",
                    self.remaining()
                ),
            )),
        }
    }

    fn bytes(&mut self, buf: &mut [u8]) -> Result<(), GgufError> {
        self.need(buf.len() as u64, "a field")?;
        self.r.read_exact(buf).map_err(|e| GgufError {
            offset: self.pos,
            reason: format!("read failed: {e}"),
        })?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), GgufError> {
        self.need(n, what)?;
        let delta =
            i64::try_from(n).map_err(|_| self.err_at(self.pos, format!("{what} is too long")))?;
        self.r
            .seek(SeekFrom::Current(delta))
            .map_err(|e| GgufError {
                offset: self.pos,
                reason: format!("seek failed: {e}"),
            })?;
        self.pos += n;
        Ok(())
    }

    fn u32(&mut self) -> Result<u32, GgufError> {
        let mut b = [0u8; 4];
        self.bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, GgufError> {
        let mut b = [0u8; 8];
        self.bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// A length-prefixed string of at most `max` bytes, read into memory.
    fn string(&mut self, max: u64, what: &str) -> Result<Vec<u8>, GgufError> {
        let at = self.pos;
        let n = self.u64()?;
        if n > max {
            return Err(self.err_at(at, format!("{what} of {n} bytes is longer than {max}")));
        }
        self.need(n, what)?;
        let mut buf = vec![0u8; n as usize];
        self.bytes(&mut buf)?;
        Ok(buf)
    }

    /// Skips a metadata value of type `ty`.
    fn skip_value(&mut self, ty: u32, depth: u32) -> Result<(), GgufError> {
        let at = self.pos;
        match ty {
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(self.err_at(at, "arrays nested too deeply".into()));
                }
                let elem = self.u32()?;
                let count = self.u64()?;
                match scalar_size(elem) {
                    Some(size) => {
                        let n = count.checked_mul(size).ok_or_else(|| {
                            self.err_at(at, format!("array of {count} elements overflows"))
                        })?;
                        self.skip(n, "an array")
                    }
                    None if elem == 8 || elem == 9 => {
                        // Each string or array needs at least 8 bytes of length.
                        self.count_fits(count, 8, "array elements")?;
                        for _ in 0..count {
                            self.skip_value(elem, depth + 1)?;
                        }
                        Ok(())
                    }
                    None => Err(self.err_at(at, format!("array of unknown type {elem}"))),
                }
            }
            8 => {
                let n = self.u64()?;
                self.skip(n, "a string")
            }
            _ => match scalar_size(ty) {
                Some(size) => self.skip(size, "a value"),
                None => Err(self.err_at(at, format!("unknown metadata type {ty}"))),
            },
        }
    }
}

fn scalar_size(ty: u32) -> Option<u64> {
    Some(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        10..=12 => 8,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: u32, n_tensors: u64, n_kv: u64) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(version.to_le_bytes());
        b.extend(n_tensors.to_le_bytes());
        b.extend(n_kv.to_le_bytes());
        b
    }

    fn string(b: &mut Vec<u8>, s: &[u8]) {
        b.extend((s.len() as u64).to_le_bytes());
        b.extend(s);
    }

    fn run(b: &[u8]) -> Result<GgufSummary, GgufError> {
        check(std::io::Cursor::new(b), b.len() as u64)
    }

    /// One f32 tensor of 8 elements and an architecture string.
    fn tiny() -> Vec<u8> {
        let mut b = header(3, 1, 1);
        string(&mut b, b"general.architecture");
        b.extend(8u32.to_le_bytes());
        string(&mut b, b"llama");
        string(&mut b, b"w");
        b.extend(1u32.to_le_bytes());
        b.extend(8u64.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        while b.len() % 32 != 0 {
            b.push(0);
        }
        b.extend([0u8; 32]);
        b
    }

    #[test]
    fn a_well_formed_file_passes() {
        let s = run(&tiny()).unwrap();
        assert_eq!((s.version, s.n_kv, s.n_tensors), (3, 1, 1));
        assert_eq!(s.architecture.as_deref(), Some("llama"));
    }

    #[test]
    fn huge_counts_and_lengths_are_refused_before_allocating() {
        let e = run(&header(3, 0, 1 << 60)).unwrap_err();
        assert!(e.reason.contains("cannot fit"), "{e}");
        let e = run(&header(3, 1 << 60, 0)).unwrap_err();
        assert!(e.reason.contains("cannot fit"), "{e}");
        let mut b = header(3, 0, 1);
        b.extend((1u64 << 60).to_le_bytes());
        b.extend([0u8; 16]);
        let e = run(&b).unwrap_err();
        assert!(e.reason.contains("longer than"), "{e}");
        let mut b = header(3, 0, 1);
        string(&mut b, b"k");
        b.extend(9u32.to_le_bytes());
        b.extend(8u32.to_le_bytes());
        b.extend((1u64 << 60).to_le_bytes());
        b.extend([0u8; 16]);
        let e = run(&b).unwrap_err();
        assert!(e.reason.contains("cannot fit"), "{e}");
    }

    #[test]
    fn truncation_bad_versions_and_bad_tensors_are_refused() {
        let t = tiny();
        for cut in [0, 3, 10, 30, t.len() - 1] {
            assert!(run(&t[..cut]).is_err(), "cut at {cut}");
        }
        let mut v1 = t.clone();
        v1[4] = 1;
        assert!(run(&v1).unwrap_err().reason.contains("version 1"));
        // header 24, metadata entry 45, name 9, n_dims 4, one dimension 8: the type is at 90.
        let ty_at = 90;
        assert_eq!(&t[ty_at..ty_at + 4], &0u32.to_le_bytes());
        let mut b = t.clone();
        b[ty_at..ty_at + 4].copy_from_slice(&200u32.to_le_bytes());
        assert!(run(&b)
            .unwrap_err()
            .reason
            .contains("unknown ggml type 200"));
        let mut b = t.clone();
        b[ty_at + 4] = 32; // offset 32: not where the first tensor starts
        assert!(run(&b).unwrap_err().reason.contains("expected 0"));
        let mut b = t.clone();
        b[ty_at - 8] = 9; // 9 elements: the data runs past the end
        assert!(run(&b).unwrap_err().reason.contains("past the end"));
    }
}
