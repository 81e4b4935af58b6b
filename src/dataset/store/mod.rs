//! The on-disk feature store: per-token feature rows of every candidate, as f16, in chunked
//! append-only files with a checksummed index; written one problem at a time, crash-safe, and
//! read back (memory-mapped) for training and evaluation.
//!
//! # Files (in `<collection dir>/features/`)
//! - `store.yaml`: the manifest, written once, atomically: format version, dtype (`f16`), width
//!   F, the [`FeatureLayout`](crate::features::FeatureLayout), chunk size limit, alignment.
//! - `chunk-00000.bin`, `chunk-00001.bin`, ...: a 64-byte header (magic `SWBFEAT\0`, version,
//!   dtype, F, chunk number, alignment), then problems' regions back to back. In a region each
//!   candidate's rows form one block of `n_rows x F` little-endian f16 values; a non-empty block
//!   starts at a multiple of 64 bytes (zero padding before it). A new chunk is started when a
//!   problem would push the current one past the limit (256 MiB by default).
//! - `index.bin`: a 16-byte header (magic `SWBFIDX\0`, version), then one record per committed
//!   problem: problem index, chunk, region start and end, saturation counts, each candidate's
//!   (offset, rows), a truncated sha256 of the region's bytes, and a truncated sha256 of the
//!   record itself. Integers are little-endian; see `format.rs` for the byte layout.
//!
//! A token costs 2·F bytes; a candidate adds at most 63 bytes of padding and 16 bytes of index,
//! a problem 96 bytes of index ([`StoreStats`] reports the totals).
//!
//! # Durability and recovery
//! [`FeatureWriter::commit_problem`] appends the region to the chunk and syncs it, then appends
//! the index record and syncs it. A problem is committed exactly when its record is in the
//! index. After a crash at any byte, opening finds the committed prefix: a torn last record is
//! ignored, and so are chunk bytes past the last record's region and chunk files after the last
//! one a record names. [`FeatureStore`] ignores that tail; [`FeatureWriter`] cuts the index tail,
//! unlinks stray chunks and overwrites the chunk bytes past the committed end (it never shrinks a
//! chunk file, which a reader may have mapped), and reports it all in [`Recovery`]; [`FeatureWriter::next_problem_index`] says where to
//! continue. Continuing writes exactly the bytes an uninterrupted run would have written.
//!
//! Damage that a crash cannot cause is an error ([`StoreError::CorruptIndex`],
//! [`StoreError::MissingData`], ...) naming the file and the entry, never silently repaired:
//! only the last record can be torn, because every earlier one was synced before the next was
//! written, and an interrupted append leaves a prefix of the record, possibly followed by zeros
//! where the file grew but the data never landed. So a record that fails its checksum is
//! treated as torn (dropped) only when its header is intact and nothing but zeros follows its
//! declared end (or it runs past the end of the file), or when only zeros remain; anywhere
//! else, or with a damaged record header (magic, length), opening fails. One
//! exception is tolerated and reported ([`Recovery::lost_problems`]): records at the end of the
//! index whose rows are missing from the end of the last chunk are dropped, so that a store
//! whose last chunk was cut short (a copy interrupted, a disk that lost synced data) can still
//! be resumed; the rows of those problems are gone either way.
//!
//! Opening checks the structure of every record (increasing problem indices, regions back to
//! back, blocks where the writer puts them, chunk headers) but reads no rows; a resuming writer
//! also checks the data checksum of the last problem, and [`FeatureStore::verify`] checks all.
//!
//! # Collector usage
//! ```no_run
//! use swift_bon::dataset::store::{FeatureWriter, StoreOptions};
//! use swift_bon::features::{FeatureLayout, FeatureSink, StateSpec};
//! # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let layout = FeatureLayout::hidden(StateSpec::All.resolve(30)?, 576);
//! let dir = std::path::Path::new("runs/arith");
//! let mut store = FeatureWriter::create_or_resume(dir, &layout, &StoreOptions::default())?;
//! for problem in store.next_problem_index()..100 {
//!     // The engine drives the sink: begin, token for every covered token, end.
//!     store.begin(&layout, 2)?;
//!     store.token(0, 0, &vec![0.5; layout.width()])?;
//!     store.end()?;
//!     // Append the problem's candidate records first, then make the rows durable:
//!     let info = store.commit_problem(problem)?;
//!     if info.saturated > 0 {
//!         eprintln!("problem {problem}: {} values clamped to ±65504", info.saturated);
//!     }
//! }
//! println!("{}", store.stats());
//! # Ok(()) }
//! ```
//! A collector that also appends `candidates.jsonl` should write a problem's records before
//! committing its rows, and on resume drop records whose problem index is at or past
//! [`FeatureWriter::next_problem_index`]: then records and rows always agree.
//!
//! # Training usage
//! ```no_run
//! use swift_bon::dataset::store::{FeatureStore, LabelledStore, Projection};
//! use swift_bon::dataset::CandidateRecord;
//! use swift_bon::features::{CandidateFeatures, StateSpec};
//! # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let records: Vec<CandidateRecord> = Vec::new();
//! let store = FeatureStore::open(std::path::Path::new("runs/arith"))?;
//! let last4 = Projection::spec(store.layout(), &StateSpec::Last(4))?;
//! let data = LabelledStore::from_records(&store, &records)?.with_projection(last4)?;
//! let mut rows = Vec::new();
//! for i in 0..data.n_candidates() {
//!     data.read_rows(i, &mut rows)?; // n_tokens(i) x layout().width() f32 values
//! }
//! # Ok(()) }
//! ```

mod chunkio;
pub mod error;
mod format;
mod labels;
mod reader;
mod scan;
mod stats;
mod writer;

#[cfg(test)]
mod tests;

pub use chunkio::ReadMode;
pub use error::{describe_layout, StoreError};
pub use format::{
    chunk_file_name, Dtype, Manifest, ALIGN, BYTES_PER_VALUE, CHUNK_HEADER_LEN,
    DEFAULT_CHUNK_LIMIT, FORMAT_VERSION, INDEX_FILE, INDEX_HEADER_LEN, MANIFEST_FILE, STORE_DIR,
};
pub use labels::LabelledStore;
pub use reader::{Entry, FeatureStore, Projection};
pub use scan::Recovery;
pub use stats::{bytes_per_row, StoreStats};
pub use writer::{CommitInfo, FeatureWriter, StoreOptions};
