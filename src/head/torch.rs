//! Importing a head trained by the reference PyTorch code (SWIFT.md §4).
//!
//! `torch.save(state_dict)` writes a zip archive: `PREFIX/data.pkl` (a pickle describing the
//! tensors) and `PREFIX/data/KEY` (raw little-endian storage bytes), plus small files such as
//! `PREFIX/byteorder`. The pickle is read by a small opcode interpreter that understands exactly
//! what torch emits for a dictionary of float32 tensors (protocol 2, and the extra opcodes of
//! protocols 3-5): ordered dictionaries, `torch._utils._rebuild_tensor_v2` calls and persistent
//! storage references. Anything else is refused, naming the opcode or callable; nothing is ever
//! executed.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use sha2::Digest;

use crate::features::{EosRule, FeatureSource};

use super::{Head, HeadError, HeadSpec, ModelIdentity, Normalization};

/// A float32 tensor read from a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct TorchTensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

/// Largest `data.pkl` accepted (a state dict of a few tensors is a few hundred bytes).
const MAX_PICKLE_BYTES: u64 = 16 << 20;
/// Largest storage accepted (a head of 300k parameters is about 1.2 MB).
const MAX_STORAGE_BYTES: u64 = 1 << 30;

type Id = usize;

#[derive(Debug, Clone)]
enum Obj {
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Global { module: String, name: String },
    Storage { key: String, numel: u64 },
    Tensor(TensorRef),
}

#[derive(Debug, Clone)]
struct TensorRef {
    storage_key: String,
    storage_numel: u64,
    offset: u64,
    size: Vec<u64>,
    stride: Vec<u64>,
}

impl Obj {
    fn kind(&self) -> &'static str {
        match self {
            Obj::None => "None",
            Obj::Bool => "bool",
            Obj::Int(_) => "int",
            Obj::Float => "float",
            Obj::Str(_) => "str",
            Obj::Tuple(_) => "tuple",
            Obj::List(_) => "list",
            Obj::Dict(_) => "dict",
            Obj::Global { .. } => "global",
            Obj::Storage { .. } => "storage",
            Obj::Tensor(_) => "tensor",
        }
    }
}

/// The pickle machine: an arena of objects (so that memoised containers are shared, as in
/// Python), the stack, the mark positions and the memo.
struct Machine<'a> {
    code: &'a [u8],
    pos: usize,
    objs: Vec<Obj>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u32, Id>,
}

type PResult<T> = Result<T, String>;

impl<'a> Machine<'a> {
    fn new(code: &'a [u8]) -> Self {
        Self {
            code,
            pos: 0,
            objs: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn take(&mut self, n: usize) -> PResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.code.len());
        match end {
            Some(end) => {
                let s = &self.code[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(format!(
                "pickle ends early at byte {} (needed {n} more bytes)",
                self.pos
            )),
        }
    }

    fn u8(&mut self) -> PResult<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> PResult<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> PResult<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> PResult<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn line(&mut self) -> PResult<String> {
        let rest = &self.code[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("unterminated text line at byte {}", self.pos))?;
        let s = std::str::from_utf8(&rest[..n])
            .map_err(|_| format!("text line at byte {} is not UTF-8", self.pos))?
            .to_string();
        self.pos += n + 1;
        Ok(s)
    }

    fn utf8(&mut self, n: usize) -> PResult<String> {
        let at = self.pos;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| format!("string at byte {at} is not UTF-8"))
    }

    fn alloc(&mut self, o: Obj) -> Id {
        self.objs.push(o);
        self.objs.len() - 1
    }

    fn push(&mut self, o: Obj) {
        let id = self.alloc(o);
        self.stack.push(id);
    }

    fn pop(&mut self) -> PResult<Id> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(format!("stack underflow at byte {}", self.pos));
        }
        Ok(self.stack.pop().unwrap_or_default())
    }

    fn top(&self) -> PResult<Id> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(format!("stack underflow at byte {}", self.pos));
        }
        Ok(self.stack[self.stack.len() - 1])
    }

    fn pop_mark(&mut self) -> PResult<Vec<Id>> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| format!("no MARK on the stack at byte {}", self.pos))?;
        Ok(self.stack.split_off(m))
    }

    fn memo_put(&mut self, key: u32) -> PResult<()> {
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> PResult<()> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| format!("memo key {key} used before being set (byte {})", self.pos))?;
        self.stack.push(id);
        Ok(())
    }

    fn int(&self, id: Id, what: &str) -> PResult<i64> {
        match &self.objs[id] {
            Obj::Int(v) => Ok(*v),
            other => Err(format!("{what}: expected an int, found a {}", other.kind())),
        }
    }

    fn uint(&self, id: Id, what: &str) -> PResult<u64> {
        let v = self.int(id, what)?;
        u64::try_from(v).map_err(|_| format!("{what}: {v} is negative"))
    }

    fn str(&self, id: Id, what: &str) -> PResult<&str> {
        match &self.objs[id] {
            Obj::Str(s) => Ok(s),
            other => Err(format!(
                "{what}: expected a string, found a {}",
                other.kind()
            )),
        }
    }

    fn tuple(&self, id: Id, what: &str) -> PResult<&[Id]> {
        match &self.objs[id] {
            Obj::Tuple(v) => Ok(v),
            other => Err(format!(
                "{what}: expected a tuple, found a {}",
                other.kind()
            )),
        }
    }

    fn setitems(&mut self, dict: Id, items: &[Id]) -> PResult<()> {
        if items.len() % 2 != 0 {
            return Err("SETITEMS with an odd number of items".to_string());
        }
        let pairs: Vec<(Id, Id)> = items.chunks_exact(2).map(|p| (p[0], p[1])).collect();
        match &mut self.objs[dict] {
            Obj::Dict(d) => {
                d.extend(pairs);
                Ok(())
            }
            other => Err(format!("SETITEM(S) on a {}, not a dict", other.kind())),
        }
    }

    fn appends(&mut self, list: Id, items: &[Id]) -> PResult<()> {
        match &mut self.objs[list] {
            Obj::List(l) => {
                l.extend_from_slice(items);
                Ok(())
            }
            other => Err(format!("APPEND(S) on a {}, not a list", other.kind())),
        }
    }

    /// `persistent_load` for torch's ('storage', storage_type, key, location, numel) ids.
    fn persistent(&mut self, pid: Id) -> PResult<Obj> {
        let t = self.tuple(pid, "persistent id")?.to_vec();
        if t.len() != 5 {
            return Err(format!("persistent id has {} fields, expected 5", t.len()));
        }
        if self.str(t[0], "persistent id tag")? != "storage" {
            return Err(format!(
                "persistent id tag {:?} is not 'storage'",
                self.str(t[0], "persistent id tag")?
            ));
        }
        match &self.objs[t[1]] {
            Obj::Global { module, name } if module == "torch" && name == "FloatStorage" => {}
            Obj::Global { module, name } => {
                return Err(format!(
                    "storage type {module}.{name} is not supported: only float32 tensors (torch.FloatStorage) can be imported"
                ))
            }
            other => return Err(format!("storage type is a {}, not a class", other.kind())),
        }
        let key = self.str(t[2], "storage key")?.to_string();
        if key.is_empty() || key.contains(['/', '\\']) || key.contains("..") {
            return Err(format!("storage key {key:?} is not a plain name"));
        }
        self.str(t[3], "storage location")?;
        let numel = self.uint(t[4], "storage size")?;
        Ok(Obj::Storage { key, numel })
    }

    fn reduce(&mut self, func: Id, args: Id) -> PResult<Obj> {
        let (module, name) = match &self.objs[func] {
            Obj::Global { module, name } => (module.clone(), name.clone()),
            other => return Err(format!("REDUCE on a {}, not a global", other.kind())),
        };
        let args = self
            .tuple(args, &format!("arguments of {module}.{name}"))?
            .to_vec();
        match (module.as_str(), name.as_str()) {
            ("collections", "OrderedDict") => {
                if !args.is_empty() {
                    return Err("collections.OrderedDict called with arguments".to_string());
                }
                Ok(Obj::Dict(Vec::new()))
            }
            ("torch._utils", "_rebuild_tensor_v2") => {
                if !(6..=7).contains(&args.len()) {
                    return Err(format!(
                        "_rebuild_tensor_v2 with {} arguments, expected 6 or 7",
                        args.len()
                    ));
                }
                let (storage_key, storage_numel) = match &self.objs[args[0]] {
                    Obj::Storage { key, numel } => (key.clone(), *numel),
                    other => return Err(format!("tensor storage is a {}", other.kind())),
                };
                let offset = self.uint(args[1], "storage offset")?;
                let size = self
                    .tuple(args[2], "tensor size")?
                    .to_vec()
                    .into_iter()
                    .map(|i| self.uint(i, "tensor size"))
                    .collect::<PResult<Vec<_>>>()?;
                let stride = self
                    .tuple(args[3], "tensor stride")?
                    .to_vec()
                    .into_iter()
                    .map(|i| self.uint(i, "tensor stride"))
                    .collect::<PResult<Vec<_>>>()?;
                if size.len() != stride.len() {
                    return Err(format!(
                        "tensor size {size:?} and stride {stride:?} differ in rank"
                    ));
                }
                Ok(Obj::Tensor(TensorRef {
                    storage_key,
                    storage_numel,
                    offset,
                    size,
                    stride,
                }))
            }
            ("torch._utils", "_rebuild_parameter") => {
                let first = *args
                    .first()
                    .ok_or("_rebuild_parameter without arguments")?;
                match &self.objs[first] {
                    Obj::Tensor(t) => Ok(Obj::Tensor(t.clone())),
                    other => Err(format!("_rebuild_parameter of a {}", other.kind())),
                }
            }
            _ => Err(format!(
                "unsupported callable {module}.{name} (a torch state_dict of float32 tensors only calls collections.OrderedDict and torch._utils._rebuild_tensor_v2)"
            )),
        }
    }

    /// Runs to STOP and returns the resulting object.
    fn run(&mut self) -> PResult<Id> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if !(2..=5).contains(&proto) {
                        return Err(format!(
                            "pickle protocol {proto} is not supported (2 to 5 are)"
                        ));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only.
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b')' => self.push(Obj::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Obj::Tuple(items));
                }
                b']' => self.push(Obj::List(Vec::new())),
                b'a' => {
                    let v = self.pop()?;
                    let list = self.top()?;
                    self.appends(list, &[v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.appends(list, &items)?;
                }
                b'}' => self.push(Obj::Dict(Vec::new())),
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let dict = self.top()?;
                    self.setitems(dict, &[k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let dict = self.top()?;
                    self.setitems(dict, &items)?;
                }
                b'N' => self.push(Obj::None),
                0x88 => self.push(Obj::Bool),
                0x89 => self.push(Obj::Bool),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Obj::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Obj::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Obj::Int(i64::from(v)));
                }
                0x8a => {
                    let n = usize::from(self.u8()?);
                    if n > 8 {
                        return Err(format!(
                            "LONG1 integer of {n} bytes at byte {at} is too large"
                        ));
                    }
                    let b = self.take(n)?;
                    let mut buf = [0u8; 8];
                    buf[..n].copy_from_slice(b);
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        buf[n..].fill(0xff);
                    }
                    self.push(Obj::Int(i64::from_le_bytes(buf)));
                }
                b'G' => {
                    self.take(8)?;
                    self.push(Obj::Float);
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.utf8(n)?;
                    self.push(Obj::Str(s));
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    let s = self.utf8(n)?;
                    self.push(Obj::Str(s));
                }
                0x8d => {
                    let n =
                        usize::try_from(self.u64()?).map_err(|_| "string too long".to_string())?;
                    let s = self.utf8(n)?;
                    self.push(Obj::Str(s));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Obj::Global { module, name });
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let name = self.str(name, "STACK_GLOBAL name")?.to_string();
                    let module = self.str(module, "STACK_GLOBAL module")?.to_string();
                    self.push(Obj::Global { module, name });
                }
                b'q' => {
                    let k = u32::from(self.u8()?);
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k =
                        u32::try_from(self.memo.len()).map_err(|_| "memo overflow".to_string())?;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = u32::from(self.u8()?);
                    self.memo_get(k)?;
                }
                b'j' => {
                    let k = self.u32()?;
                    self.memo_get(k)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let o = self.persistent(pid)?;
                    self.push(o);
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let o = self.reduce(func, args)?;
                    self.push(o);
                }
                b'b' => {
                    // BUILD sets instance state: the `_metadata` attribute of a state_dict, or
                    // tensor attributes. Neither matters for the weights.
                    let _state = self.pop()?;
                    let target = self.top()?;
                    match &self.objs[target] {
                        Obj::Dict(_) | Obj::Tensor(_) => {}
                        other => return Err(format!("BUILD on a {} at byte {at}", other.kind())),
                    }
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let t = self.top()?;
                    self.stack.push(t);
                }
                other => {
                    let name = opcode_name(other);
                    return Err(format!(
                        "unsupported pickle opcode {name} (0x{other:02x}) at byte {at}: not something torch.save writes for a state_dict of float32 tensors"
                    ));
                }
            }
        }
    }
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        b'I' => "INT",
        b'L' => "LONG",
        b'F' => "FLOAT",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        b'P' => "PERSID",
        b'i' => "INST",
        b'o' => "OBJ",
        b'd' => "DICT",
        b'l' => "LIST",
        b'g' => "GET",
        b'p' => "PUT",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x8b => "LONG4",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads every tensor of a `torch.save(state_dict)` archive of float32 tensors, in file order.
/// Tensors must be contiguous (row-major strides; dimensions of size 1 may have any stride) and
/// lie within their storage; the storage offset is honoured.
pub fn read_torch_state_dict(path: &Path) -> Result<Vec<(String, TorchTensor)>, HeadError> {
    let bytes = std::fs::read(path).map_err(|source| HeadError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    read_state_dict_bytes(&bytes).map_err(|reason| HeadError::Checkpoint {
        file: path.to_path_buf(),
        reason,
    })
}

fn read_entry<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    limit: u64,
) -> PResult<Vec<u8>> {
    let entry = zip
        .by_name(name)
        .map_err(|e| format!("archive entry {name}: {e}"))?;
    if entry.size() > limit {
        return Err(format!(
            "archive entry {name} is {} bytes, over the {limit}-byte limit",
            entry.size()
        ));
    }
    // The size in the archive's directory is a claim: preallocate at most 1 MiB of it.
    let mut out = Vec::with_capacity(entry.size().min(1 << 20) as usize);
    entry
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| format!("reading archive entry {name}: {e}"))?;
    Ok(out)
}

fn read_state_dict_bytes(bytes: &[u8]) -> PResult<Vec<(String, TorchTensor)>> {
    if bytes.len() >= 2 && bytes[0] == 0x80 {
        return Err(
            "this is a legacy (pre-1.6) torch checkpoint, not a zip archive; re-save it with torch.save from torch >= 1.6"
                .to_string(),
        );
    }
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a torch.save zip archive ({e})"))?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok())
        .map(|n| n.into_owned())
        .collect();
    let pkl = names
        .iter()
        .filter(|n| n.ends_with("data.pkl"))
        .filter(|n| {
            let prefix = &n[..n.len() - "data.pkl".len()];
            prefix.is_empty() || (prefix.ends_with('/') && prefix.matches('/').count() == 1)
        })
        .min()
        .ok_or("the archive has no data.pkl (is this a torch.save checkpoint?)")?
        .clone();
    let prefix = pkl[..pkl.len() - "data.pkl".len()].to_string();
    if names.contains(&format!("{prefix}byteorder")) {
        let order = read_entry(&mut zip, &format!("{prefix}byteorder"), 64)?;
        let order = String::from_utf8_lossy(&order);
        if order.trim() != "little" {
            return Err(format!(
                "tensors are stored {:?}-endian; only little-endian is supported",
                order.trim()
            ));
        }
    }
    let code = read_entry(&mut zip, &pkl, MAX_PICKLE_BYTES)?;
    let mut m = Machine::new(&code);
    let root = m.run()?;
    let items = match &m.objs[root] {
        Obj::Dict(items) => items.clone(),
        other => {
            return Err(format!(
                "the checkpoint holds a {}, not a state_dict (a dict of tensors)",
                other.kind()
            ))
        }
    };
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for (k, v) in items {
        let key = m.str(k, "state_dict key")?.to_string();
        let t = match &m.objs[v] {
            Obj::Tensor(t) => t.clone(),
            other => {
                return Err(format!(
                    "state_dict entry {key:?} is a {}, not a tensor",
                    other.kind()
                ))
            }
        };
        if !storages.contains_key(&t.storage_key) {
            let name = format!("{prefix}data/{}", t.storage_key);
            // Read no more than the storage the pickle declares (float32 values): a length
            // claimed by the archive is not trusted beyond that.
            let data = read_entry(&mut zip, &name, storage_bytes(t.storage_numel)?)?;
            storages.insert(t.storage_key.clone(), data);
        }
        let storage = &storages[&t.storage_key];
        out.push((key.clone(), tensor_values(&key, &t, storage)?));
    }
    Ok(out)
}

/// Bytes of a float32 storage of `numel` values, refused past [`MAX_STORAGE_BYTES`].
fn storage_bytes(numel: u64) -> PResult<u64> {
    numel
        .checked_mul(4)
        .filter(|&b| b <= MAX_STORAGE_BYTES)
        .ok_or_else(|| {
            format!(
                "a storage of {numel} float32 values is over the {MAX_STORAGE_BYTES}-byte limit"
            )
        })
}

fn tensor_values(key: &str, t: &TensorRef, storage: &[u8]) -> PResult<TorchTensor> {
    let numel = t
        .size
        .iter()
        .try_fold(1u64, |a, &s| a.checked_mul(s))
        .ok_or_else(|| format!("tensor {key:?}: size {:?} overflows", t.size))?;
    // Row-major strides; dimensions of size 1 may carry any stride.
    let mut expect = 1u64;
    for (d, (&s, &st)) in t.size.iter().zip(&t.stride).enumerate().rev() {
        if s != 1 && st != expect {
            return Err(format!(
                "tensor {key:?} is not contiguous (size {:?}, stride {:?}, dimension {d}); save it after .contiguous()",
                t.size, t.stride
            ));
        }
        expect = expect.saturating_mul(s);
    }
    let end = t
        .offset
        .checked_add(numel)
        .filter(|&e| e <= t.storage_numel)
        .ok_or_else(|| {
            format!(
                "tensor {key:?} (offset {}, {} elements) runs past its storage of {} elements",
                t.offset, numel, t.storage_numel
            )
        })?;
    let storage_bytes = storage_bytes(t.storage_numel)?;
    if (storage.len() as u64) < storage_bytes {
        return Err(format!(
            "storage data/{} has {} bytes, expected {} float32 values ({storage_bytes} bytes)",
            t.storage_key,
            storage.len(),
            t.storage_numel,
        ));
    }
    // `offset <= end <= storage_numel`, and `storage_numel * 4` fits (checked above).
    let bytes = &storage[(t.offset * 4) as usize..(end * 4) as usize];
    let data = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(TorchTensor {
        shape: t.size.iter().map(|&s| s as usize).collect(),
        data,
    })
}

/// Options of [`import_torch_checkpoint`] beyond the model and states.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Normalisation the head was trained with (`none` for the reference default; `rms` is ours
    /// and has no gain, so it is not the reference's `apply_norm`). `standardize` needs
    /// statistics a bare state_dict does not hold and is refused.
    pub norm: Normalization,
    /// Covered-token rule.
    pub eos: EosRule,
    /// Prompt instruction to record.
    pub instruction: Option<String>,
    /// Notes to record (the import source and checksum are appended).
    pub notes: Option<String>,
}

/// Converts a reference checkpoint (`fused_layer.weight` `[2, F]` + `fused_layer.bias` `[2]`, or
/// `reward_layer.weight` `[1, F]` + `reward_layer.bias` `[1]` for no-gate) into a [`Head`] for
/// `model` reading `features` (see [`hidden_source`](super::hidden_source)). F must equal the
/// feature width (states x n_embd, or n_vocab). Save the result with [`Head::save`].
pub fn import_torch_checkpoint(
    path: &Path,
    model: ModelIdentity,
    features: FeatureSource,
    opts: &ImportOptions,
) -> Result<Head, HeadError> {
    let fail = |reason: String| HeadError::Checkpoint {
        file: path.to_path_buf(),
        reason,
    };
    if opts.norm == Normalization::Standardize {
        return Err(fail(
            "standardize needs per-dimension statistics that a reference checkpoint does not hold"
                .to_string(),
        ));
    }
    let bytes = std::fs::read(path).map_err(|source| HeadError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    let tensors = read_state_dict_bytes(&bytes).map_err(fail)?;
    let find = |name: &str| tensors.iter().find(|(k, _)| k == name).map(|(_, t)| t);
    let keys: Vec<&str> = tensors.iter().map(|(k, _)| k.as_str()).collect();
    let (gate, w, b, prefix) = match (
        find("fused_layer.weight"),
        find("fused_layer.bias"),
        find("reward_layer.weight"),
        find("reward_layer.bias"),
    ) {
        (Some(_), _, Some(_), _) => {
            return Err(fail(format!(
                "the checkpoint has both fused_layer and reward_layer weights (keys: {keys:?})"
            )))
        }
        (Some(w), Some(b), None, _) => (true, w, b, "fused_layer"),
        (None, _, Some(w), Some(b)) => (false, w, b, "reward_layer"),
        _ => {
            return Err(fail(format!(
                "expected fused_layer.weight/bias (gated) or reward_layer.weight/bias (no gate); found keys {keys:?}"
            )))
        }
    };
    let spec = HeadSpec {
        model,
        features,
        norm: opts.norm,
        gate,
        eos: opts.eos,
        instruction: opts.instruction.clone(),
        instruction_by_kind: Default::default(),
        training: None,
        notes: None,
    };
    spec.validate()?;
    let rows = spec.rows();
    let f = spec.width();
    let width_text = match &spec.features {
        FeatureSource::Hidden { selection, n_embd } => {
            format!("{} states x n_embd {n_embd} = {f}", selection.len())
        }
        FeatureSource::Logits { n_vocab } => format!("n_vocab = {n_vocab}"),
    };
    if w.shape.len() != 2 || w.shape[0] != rows {
        return Err(fail(format!(
            "{prefix}.weight has shape {:?}, expected [{rows}, F]",
            w.shape
        )));
    }
    if w.shape[1] != f {
        return Err(fail(format!(
            "{prefix}.weight has F = {} features but the given states give F = {width_text} (expected [{rows}, {f}], got {:?})",
            w.shape[1], w.shape
        )));
    }
    if b.shape != [rows] {
        return Err(fail(format!(
            "{prefix}.bias has shape {:?}, expected [{rows}]",
            b.shape
        )));
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let origin = format!(
        "imported from PyTorch checkpoint {file_name} (sha256 {})",
        sha256_hex(&bytes)
    );
    let notes = match &opts.notes {
        Some(n) if !n.is_empty() => format!("{n}\n{origin}"),
        _ => origin,
    };
    let head = Head::new(spec, w.data.clone(), b.data.clone(), None).map_err(|e| match e {
        HeadError::NonFinite {
            name, index, value, ..
        } => HeadError::NonFinite {
            file: Some(path.to_path_buf()),
            name: format!("{prefix}.{name}"),
            index,
            value,
        },
        other => other,
    })?;
    Ok(head.with_notes(Some(notes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::StateSpec;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn model() -> ModelIdentity {
        ModelIdentity {
            architecture: "llama".to_string(),
            n_layer: 4,
            n_embd: 4,
            n_vocab: 32,
            fingerprint: "sha256:0".to_string(),
        }
    }

    fn two_states() -> FeatureSource {
        crate::head::hidden_source(&"3-4".parse::<StateSpec>().unwrap(), &model()).unwrap()
    }

    // Values written by tests/fixtures/make_torch_checkpoint.py.
    fn expected_weight(rows: usize) -> Vec<f32> {
        (0..rows * 8).map(|i| (i as f32 - 5.0) * 0.25).collect()
    }

    #[test]
    fn reads_gated_checkpoints_in_protocols_2_and_4() {
        for name in ["gated_2x4.pt", "gated_2x4_proto4.pt"] {
            let sd = read_torch_state_dict(&fixture(name)).unwrap();
            let keys: Vec<&str> = sd.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["fused_layer.weight", "fused_layer.bias"], "{name}");
            assert_eq!(sd[0].1.shape, [2, 8]);
            assert_eq!(sd[0].1.data, expected_weight(2));
            assert_eq!(sd[1].1.data, [0.5, -1.25]);

            let head = import_torch_checkpoint(
                &fixture(name),
                model(),
                two_states(),
                &ImportOptions::default(),
            )
            .unwrap();
            assert!(head.gate());
            assert_eq!(head.weight(), expected_weight(2).as_slice());
            assert_eq!(head.bias(), &[0.5, -1.25]);
            assert!(head.spec().notes.as_deref().unwrap().contains(name));
        }
    }

    #[test]
    fn reads_no_gate_checkpoint_with_a_shared_offset_storage() {
        // Weight and bias are views of one storage of 9 floats; the bias has offset 8.
        let head = import_torch_checkpoint(
            &fixture("nogate_2x4.pt"),
            model(),
            two_states(),
            &ImportOptions {
                notes: Some("from the paper's code".to_string()),
                ..ImportOptions::default()
            },
        )
        .unwrap();
        assert!(!head.gate());
        assert_eq!(head.weight(), expected_weight(1).as_slice());
        assert_eq!(head.bias(), &[0.75]);
        assert!(head
            .spec()
            .notes
            .as_deref()
            .unwrap()
            .starts_with("from the paper's code\nimported"));
        // And it survives a save/load round trip.
        let dir = tempfile::tempdir().unwrap();
        head.save(dir.path().join("imported")).unwrap();
        assert_eq!(Head::load(dir.path().join("imported.yaml")).unwrap(), head);
    }

    #[test]
    fn refuses_a_width_that_does_not_match_the_states() {
        let three =
            crate::head::hidden_source(&"2-4".parse::<StateSpec>().unwrap(), &model()).unwrap();
        let err = import_torch_checkpoint(
            &fixture("gated_2x4.pt"),
            model(),
            three,
            &ImportOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("F = 8") && err.contains("3 states x n_embd 4 = 12"),
            "{err}"
        );
        let err = import_torch_checkpoint(
            &fixture("gated_2x4.pt"),
            model(),
            FeatureSource::Logits { n_vocab: 32 },
            &ImportOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("n_vocab = 32"), "{err}");
    }

    #[test]
    fn refuses_non_contiguous_half_and_malformed_checkpoints() {
        let err = read_torch_state_dict(&fixture("transposed_2x4.pt"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not contiguous"), "{err}");
        let err = read_torch_state_dict(&fixture("half_2x4.pt"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("torch.HalfStorage"), "{err}");

        let good = std::fs::read(fixture("gated_2x4.pt")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.pt");
        std::fs::write(&p, &good[..good.len() / 2]).unwrap();
        let err = read_torch_state_dict(&p).unwrap_err().to_string();
        assert!(err.contains("bad.pt") && err.contains("zip"), "{err}");
        std::fs::write(&p, [0x80, 0x02, b'}', b'.']).unwrap();
        let err = read_torch_state_dict(&p).unwrap_err().to_string();
        assert!(err.contains("legacy"), "{err}");
    }

    /// `gated_2x4.pt` with its data.pkl passed through `edit`, rezipped.
    fn edited_fixture(dir: &Path, edit: impl Fn(&[u8]) -> Vec<u8>) -> PathBuf {
        use std::io::Write as _;
        let bytes = std::fs::read(fixture("gated_2x4.pt")).unwrap();
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for i in 0..z.len() {
            let mut f = z.by_index(i).unwrap();
            let name = f.name().unwrap().to_string();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            if name.ends_with("data.pkl") {
                data = edit(&data);
            }
            w.start_file(name.as_str(), opts).unwrap();
            w.write_all(&data).unwrap();
        }
        let p = dir.join("edited.pt");
        std::fs::write(&p, w.finish().unwrap().into_inner()).unwrap();
        p
    }

    #[test]
    fn a_storage_size_near_2_pow_62_is_refused_before_reading() {
        // The weight's storage claims 2^62 float32 values: 2^64 bytes, which wrapped to 0 and
        // passed the size check before; now it is refused, and nothing that large is allocated.
        let dir = tempfile::tempdir().unwrap();
        let p = edited_fixture(dir.path(), |pkl| {
            let from = b"cpuq\x07K\x10t";
            let at = pkl.windows(from.len()).position(|w| w == from).unwrap();
            let mut out = pkl[..at].to_vec();
            out.extend(b"cpuq\x07\x8a\x08");
            out.extend((1u64 << 62).to_le_bytes());
            out.push(b't');
            out.extend(&pkl[at + from.len()..]);
            out
        });
        let err = read_torch_state_dict(&p).unwrap_err().to_string();
        assert!(err.contains("over the") && err.contains("limit"), "{err}");
    }

    #[test]
    fn interpreter_names_unsupported_opcodes_and_callables() {
        let run = |code: &[u8]| {
            let mut m = Machine::new(code);
            m.run().map(|id| m.objs[id].kind())
        };
        assert_eq!(run(b"\x80\x02}q\x00.").unwrap(), "dict");
        let err = run(b"\x80\x02I1\n.").unwrap_err();
        assert!(err.contains("INT (0x49)"), "{err}");
        let err = run(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.").unwrap_err();
        assert!(err.contains("unsupported callable os.system"), "{err}");
        let err = run(b"\x80\x02}").unwrap_err();
        assert!(err.contains("ends early"), "{err}");
        let err = run(b"\x80\x02h\x05.").unwrap_err();
        assert!(err.contains("memo key 5"), "{err}");
        let err = run(b"\x80\x02t.").unwrap_err();
        assert!(err.contains("MARK"), "{err}");
        // LONG1 sign extension and BININT.
        let mut m = Machine::new(b"\x80\x02\x8a\x02\x00\xff.");
        let id = m.run().unwrap();
        assert_eq!(m.int(id, "x").unwrap(), -256);
        let mut m = Machine::new(b"\x80\x02J\xfe\xff\xff\xff.");
        let id = m.run().unwrap();
        assert_eq!(m.int(id, "x").unwrap(), -2);
    }
}
