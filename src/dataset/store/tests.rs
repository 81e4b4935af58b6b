//! Tests of the feature store: round trips, crash recovery, corruption, layouts, saturation,
//! projections, labels, and the sink protocol.

use std::collections::BTreeMap;
use std::path::Path;

use half::f16;

use super::format::{record_len, ProblemRecord, INDEX_HEADER_LEN};
use super::reader::decode_f16_le;
use super::*;
use crate::dataset::record::{CandidateRecord, FinishReason};
use crate::features::{CandidateFeatures, FeatureLayout, FeatureSink, StateSpec};
use crate::rng::Rng;

/// Rows of one problem: candidate -> row -> values.
type Problem = Vec<Vec<Vec<f32>>>;

/// All 4 states of a 3-layer model with n_embd 8: F = 32.
fn layout() -> FeatureLayout {
    FeatureLayout::hidden(StateSpec::All.resolve(3).unwrap(), 8)
}

/// A deterministic problem: 2-4 candidates of 0-6 rows; candidate 1 of every third problem has
/// no row. Values span several magnitudes but stay inside the f16 range.
fn gen_problem(p: u64, width: usize) -> Problem {
    let mut rng = Rng::derive(99, p);
    let n = 2 + rng.below(3) as usize;
    (0..n)
        .map(|c| {
            let rows = if c == 1 && p % 3 == 0 {
                0
            } else {
                rng.below(7) as usize
            };
            (0..rows)
                .map(|_| {
                    (0..width)
                        .map(|j| {
                            let scale = [0.01f32, 1.0, 300.0, 20000.0][j % 4];
                            (rng.next_f32() * 2.0 - 1.0) * scale
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Feeds a problem the way the engine does (token step by token step, candidates interleaved).
fn feed(w: &mut FeatureWriter, layout: &FeatureLayout, rows: &Problem) {
    w.begin(layout, rows.len()).unwrap();
    let max = rows.iter().map(Vec::len).max().unwrap_or(0);
    for t in 0..max {
        for (c, cand) in rows.iter().enumerate() {
            if let Some(r) = cand.get(t) {
                w.token(c, t, r).unwrap();
            }
        }
    }
    w.end().unwrap();
}

fn write_problem(
    w: &mut FeatureWriter,
    layout: &FeatureLayout,
    p: u64,
    rows: &Problem,
) -> CommitInfo {
    feed(w, layout, rows);
    w.commit_problem(p).unwrap()
}

fn small_chunks() -> StoreOptions {
    StoreOptions::new().with_chunk_limit(1200)
}

/// Every file of the store directory, by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir.join(STORE_DIR))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn copy_store(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join(STORE_DIR)).unwrap();
    for (name, bytes) in files(from) {
        std::fs::write(to.join(STORE_DIR).join(name), bytes).unwrap();
    }
}

fn truncate(path: &Path, len: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len).unwrap();
}

fn f16_bits(x: f32) -> u16 {
    f16::from_f32(x).to_bits()
}

/// Asserts that problem `p` of the store holds exactly the f16-rounded `rows`.
fn assert_problem(store: &FeatureStore, p: u64, rows: &Problem) {
    assert_eq!(store.n_candidates_of(p), Some(rows.len()), "problem {p}");
    let mut halves = Vec::new();
    let mut floats = Vec::new();
    for (c, cand) in rows.iter().enumerate() {
        let i = store.find(p, c as u32).unwrap();
        assert_eq!(store.entries()[i].n_rows, cand.len() as u64);
        store.read_rows_f16(i, &mut halves).unwrap();
        store.read_rows(i, &mut floats).unwrap();
        let want: Vec<u16> = cand.iter().flatten().map(|&x| f16_bits(x)).collect();
        let got: Vec<u16> = halves.iter().map(|h| h.to_bits()).collect();
        assert_eq!(got, want, "problem {p} candidate {c}");
        let want_f32: Vec<u32> = cand
            .iter()
            .flatten()
            .map(|&x| f16::from_f32(x).to_f32().to_bits())
            .collect();
        assert_eq!(
            floats.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want_f32
        );
    }
}

#[test]
fn round_trip_is_bit_exact_in_f16() {
    let dir = tempfile::tempdir().unwrap();
    let layout = layout();
    let width = layout.width();
    let problems: Vec<Problem> = (0..7).map(|p| gen_problem(p, width)).collect();
    let mut w = FeatureWriter::create_or_resume(dir.path(), &layout, &small_chunks()).unwrap();
    assert!(w.recovery().is_clean());
    assert_eq!(w.next_problem_index(), 0);
    for (p, rows) in problems.iter().enumerate() {
        let info = write_problem(&mut w, &layout, p as u64, rows);
        assert_eq!(info.rows, rows.iter().map(|c| c.len() as u64).sum::<u64>());
        assert_eq!(info.saturated, 0);
    }
    assert_eq!(w.next_problem_index(), 7);
    let written_stats = w.stats();
    drop(w);

    for mode in [ReadMode::Pread, ReadMode::Mmap, ReadMode::Auto] {
        let store = FeatureStore::open_with(dir.path(), mode).unwrap();
        assert_eq!(store.is_mapped(), mode != ReadMode::Pread);
        assert!(store.recovery().is_clean());
        assert_eq!(
            store.problem_indices().collect::<Vec<_>>(),
            (0..7).collect::<Vec<u64>>()
        );
        for (p, rows) in problems.iter().enumerate() {
            assert_problem(&store, p as u64, rows);
        }
        assert!(
            store.entries().iter().any(|e| e.n_rows == 0),
            "the data has empty candidates"
        );
        for e in store.entries().iter().filter(|e| e.n_rows > 0) {
            assert_eq!(e.offset % ALIGN, 0, "{e:?}");
        }
        assert_eq!(store.find(0, 99), None);
        assert_eq!(store.find(99, 0), None);
        assert_eq!(store.verify().unwrap(), 7);
        assert_eq!(store.stats(), written_stats);
    }

    // Several chunks, none (but a lone oversized problem) past the limit, and the accounting
    // adds up to the bytes on disk.
    let stats = written_stats;
    assert!(stats.chunks >= 3, "{stats}");
    let on_disk: u64 = files(dir.path()).values().map(|b| b.len() as u64).sum();
    assert_eq!(stats.total_bytes, on_disk);
    let rows: u64 = problems.iter().flatten().map(|c| c.len() as u64).sum();
    assert_eq!(stats.rows, rows);
    assert_eq!(stats.row_bytes, rows * 2 * width as u64);
    assert_eq!(
        stats.empty_candidates,
        problems.iter().flatten().filter(|c| c.is_empty()).count() as u64
    );
    assert_eq!(bytes_per_row(&layout), 64);
    assert!(stats.bytes_per_token() > 64.0 && stats.overhead_per_token() > 0.0);
    assert!(stats.to_string().contains("bytes per token"));
}

#[test]
fn a_store_of_one_known_problem_has_the_documented_size() {
    // F = 32: rows of 64 bytes, so blocks stay aligned without padding. 2 candidates x 3 rows.
    let dir = tempfile::tempdir().unwrap();
    let layout = layout();
    let rows: Problem = vec![vec![vec![1.0; 32]; 3], vec![vec![2.0; 32]; 3]];
    let mut w =
        FeatureWriter::create_or_resume(dir.path(), &layout, &StoreOptions::default()).unwrap();
    let info = write_problem(&mut w, &layout, 0, &rows);
    assert_eq!(info.bytes, 6 * 64);
    let s = w.stats();
    assert_eq!((s.row_bytes, s.padding_bytes, s.header_bytes), (384, 0, 64));
    assert_eq!(s.index_bytes, INDEX_HEADER_LEN + record_len(2) as u64);
    assert_eq!(record_len(2), 64 + 2 * 16 + 32);
    // A candidate of 1 row of width 40 (80 bytes) forces 48 bytes of padding before the next.
    let dir2 = tempfile::tempdir().unwrap();
    let l2 = FeatureLayout::logits(40);
    let mut w2 =
        FeatureWriter::create_or_resume(dir2.path(), &l2, &StoreOptions::default()).unwrap();
    let info = write_problem(
        &mut w2,
        &l2,
        0,
        &vec![vec![vec![1.0; 40]], vec![vec![1.0; 40]]],
    );
    assert_eq!(info.bytes, 64 + 80 + 48 + 80 - 64);
    assert_eq!(w2.stats().padding_bytes, 48);
}

/// What the uninterrupted run recorded after each commit.
struct Reference {
    dir: tempfile::TempDir,
    problems: Vec<Problem>,
    /// Index length, chunk and chunk end after each commit.
    after: Vec<(u64, u32, u64)>,
}

fn reference_run(k: u64) -> Reference {
    let dir = tempfile::tempdir().unwrap();
    let layout = layout();
    let problems: Vec<Problem> = (0..k).map(|p| gen_problem(p, layout.width())).collect();
    let mut w = FeatureWriter::create_or_resume(dir.path(), &layout, &small_chunks()).unwrap();
    let mut after = Vec::new();
    for (p, rows) in problems.iter().enumerate() {
        let info = write_problem(&mut w, &layout, p as u64, rows);
        let s = w.stats();
        after.push((s.index_bytes, info.chunk, w.active_chunk_len()));
    }
    Reference {
        dir,
        problems,
        after,
    }
}

#[test]
fn crash_at_any_byte_recovers_the_committed_prefix_and_resumes_identically() {
    let k = 9u64;
    let reference = reference_run(k);
    let want = files(reference.dir.path());
    let layout = layout();
    let last_chunk = reference.after.last().unwrap().1;
    let last_chunk_name = chunk_file_name(last_chunk);
    let index_len = want[INDEX_FILE].len() as u64;
    let chunk_len = want[&last_chunk_name].len() as u64;
    assert!(last_chunk >= 2, "the test needs several chunks");

    let mut saw_lost = false;
    let mut saw_torn = false;
    for seed in 0..40u64 {
        let mut rng = Rng::new(seed);
        let dir = tempfile::tempdir().unwrap();
        copy_store(reference.dir.path(), dir.path());
        let root = dir.path().join(STORE_DIR);
        let scenario = seed % 4;
        let new_index_len = if scenario != 1 {
            INDEX_HEADER_LEN + rng.below(index_len - INDEX_HEADER_LEN + 1)
        } else {
            index_len
        };
        let new_chunk_len = if scenario != 0 {
            rng.below(chunk_len + 1)
        } else {
            chunk_len
        };
        truncate(&root.join(INDEX_FILE), new_index_len);
        truncate(&root.join(&last_chunk_name), new_chunk_len);
        if scenario == 3 {
            // A crashed append can also leave zeros where the file grew but data never landed.
            let mut bytes = std::fs::read(root.join(INDEX_FILE)).unwrap();
            bytes.extend(std::iter::repeat_n(0u8, rng.below(200) as usize + 1));
            std::fs::write(root.join(INDEX_FILE), bytes).unwrap();
        }

        // The committed prefix, computed from the reference run's offsets.
        let idx_prefix = reference
            .after
            .iter()
            .take_while(|a| a.0 <= new_index_len)
            .count();
        let data_prefix = reference
            .after
            .iter()
            .take_while(|&&(_, chunk, end)| chunk != last_chunk || end <= new_chunk_len)
            .count();
        let prefix = idx_prefix.min(data_prefix);
        saw_lost |= data_prefix < idx_prefix;
        saw_torn |=
            new_index_len < index_len && !reference.after.iter().any(|a| a.0 == new_index_len);

        // A reader sees the prefix and touches nothing.
        let before = files(dir.path());
        let store = FeatureStore::open_with(dir.path(), ReadMode::Pread).unwrap();
        assert_eq!(store.next_problem_index(), prefix as u64, "seed {seed}");
        for p in 0..prefix {
            assert_problem(&store, p as u64, &reference.problems[p]);
        }
        assert_eq!(
            store.recovery().lost_problems.len(),
            idx_prefix - prefix,
            "seed {seed}"
        );
        drop(store);
        assert_eq!(
            files(dir.path()),
            before,
            "seed {seed}: the reader changed files"
        );

        // A writer removes the tail and continues to the same bytes as the uninterrupted run.
        let mut w = FeatureWriter::create_or_resume(dir.path(), &layout, &small_chunks()).unwrap();
        assert_eq!(w.next_problem_index(), prefix as u64, "seed {seed}");
        let damaged = new_index_len < index_len || new_chunk_len < chunk_len || scenario == 3;
        assert_eq!(
            w.recovery().is_clean(),
            !damaged && prefix == k as usize,
            "seed {seed}: {:?}",
            w.recovery()
        );
        for p in prefix..k as usize {
            write_problem(&mut w, &layout, p as u64, &reference.problems[p]);
        }
        drop(w);
        assert_eq!(files(dir.path()), want, "seed {seed}");
    }
    assert!(
        saw_lost && saw_torn,
        "the seeds should cover lost rows and torn records"
    );
}

#[test]
fn crash_while_starting_a_chunk_is_recovered() {
    let reference = reference_run(6);
    let (index_at, chunk, _) =
        reference.after[reference.after.iter().position(|a| a.1 == 1).unwrap() - 1];
    let dir = tempfile::tempdir().unwrap();
    copy_store(reference.dir.path(), dir.path());
    let root = dir.path().join(STORE_DIR);
    assert_eq!(chunk, 0);
    // Index ends with the last problem of chunk 0; chunk 1 has a partial header; chunk 2+ gone.
    truncate(&root.join(INDEX_FILE), index_at);
    truncate(&root.join(chunk_file_name(1)), 10);
    for name in files(dir.path()).into_keys() {
        if name.starts_with("chunk-") && name != chunk_file_name(0) && name != chunk_file_name(1) {
            std::fs::remove_file(root.join(name)).unwrap();
        }
    }
    let n = reference.after.iter().filter(|a| a.1 == 0).count();
    let store = FeatureStore::open(dir.path()).unwrap();
    assert_eq!(store.next_problem_index(), n as u64);
    assert_eq!(
        store.recovery().stray_chunks,
        vec![root.join(chunk_file_name(1))]
    );
    drop(store);
    let layout = layout();
    let mut w = FeatureWriter::resume(dir.path(), &layout).unwrap();
    assert!(!root.join(chunk_file_name(1)).exists());
    for p in n..6 {
        write_problem(&mut w, &layout, p as u64, &reference.problems[p]);
    }
    drop(w);
    assert_eq!(files(dir.path()), files(reference.dir.path()));
}

#[test]
fn missing_rows_in_an_earlier_chunk_are_an_error() {
    let reference = reference_run(6);
    let dir = tempfile::tempdir().unwrap();
    copy_store(reference.dir.path(), dir.path());
    truncate(&dir.path().join(STORE_DIR).join(chunk_file_name(0)), 100);
    let err = FeatureStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::MissingData { entry: 0, problem_index: 0, len: 100, path, .. } if path.ends_with(chunk_file_name(0))),
        "{err}"
    );
    assert!(FeatureWriter::resume(dir.path(), &layout()).is_err());
    // A deleted earlier chunk likewise.
    std::fs::remove_file(dir.path().join(STORE_DIR).join(chunk_file_name(0))).unwrap();
    assert!(matches!(
        FeatureStore::open(dir.path()),
        Err(StoreError::MissingData { len: 0, .. })
    ));
}

/// Byte offset of index record `entry` in the reference run.
fn record_offset(reference: &Reference, entry: usize) -> u64 {
    if entry == 0 {
        INDEX_HEADER_LEN
    } else {
        reference.after[entry - 1].0
    }
}

fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_index_entry_is_an_error_unless_it_is_the_torn_last_one() {
    let reference = reference_run(5);
    let layout = layout();
    let damaged = |entry: usize, within: u64| {
        let dir = tempfile::tempdir().unwrap();
        copy_store(reference.dir.path(), dir.path());
        flip(
            &dir.path().join(STORE_DIR).join(INDEX_FILE),
            record_offset(&reference, entry) + within,
        );
        dir
    };
    // Within an earlier entry: body, checksum, magic, length field. A crash cannot damage a
    // record that a later synced record follows, so this is corruption, never truncated away.
    for within in [0u64, 5, 9, 30, 70, 100] {
        let dir = damaged(2, within);
        let err = FeatureStore::open(dir.path()).unwrap_err();
        match &err {
            StoreError::CorruptIndex {
                path,
                entry,
                offset,
                ..
            } => {
                assert!(path.ends_with(INDEX_FILE));
                assert_eq!(
                    (*entry, *offset),
                    (2, record_offset(&reference, 2)),
                    "{err}"
                );
            }
            other => panic!("byte {within}: expected CorruptIndex, got {other}"),
        }
        assert!(err.to_string().contains("index entry 2"), "{err}");
        assert!(FeatureWriter::resume(dir.path(), &layout).is_err());
    }
    // Within the last entry's body or checksum: indistinguishable from a torn append, so the
    // entry is dropped and its problem collected again.
    let dir = damaged(4, 40);
    let store = FeatureStore::open(dir.path()).unwrap();
    assert_eq!(store.next_problem_index(), 4);
    assert!(store
        .recovery()
        .torn_reason
        .as_deref()
        .unwrap()
        .contains("checksum"));
    drop(store);
    let mut w = FeatureWriter::resume(dir.path(), &layout).unwrap();
    assert_eq!(w.next_problem_index(), 4);
    write_problem(&mut w, &layout, 4, &reference.problems[4]);
    drop(w);
    assert_eq!(files(dir.path()), files(reference.dir.path()));
    // The last entry's header (magic) is damaged: not what an append leaves, an error.
    let dir = damaged(4, 1);
    assert!(matches!(
        FeatureStore::open(dir.path()),
        Err(StoreError::CorruptIndex { entry: 4, .. })
    ));
}

#[test]
fn a_checksummed_but_inconsistent_entry_is_an_error() {
    // Records that pass their checksum are still checked against the writer's rules.
    let reference = reference_run(3);
    let dir = tempfile::tempdir().unwrap();
    copy_store(reference.dir.path(), dir.path());
    let index_path = dir.path().join(STORE_DIR).join(INDEX_FILE);
    let bytes = std::fs::read(&index_path).unwrap();
    let at = record_offset(&reference, 1) as usize;
    let super::format::Decoded::Record(rec, len) = super::format::decode_record(&bytes[at..])
    else {
        panic!("entry 1 should decode");
    };
    let edit = |f: &dyn Fn(&mut ProblemRecord)| {
        let mut r: ProblemRecord = rec.clone();
        f(&mut r);
        let mut out = bytes.clone();
        out.splice(at..at + len, r.encode());
        std::fs::write(&index_path, &out).unwrap();
        FeatureStore::open(dir.path()).unwrap_err()
    };
    for (what, f) in [
        (
            "repeated problem index",
            &(|r: &mut ProblemRecord| r.problem_index = 0) as &dyn Fn(&mut ProblemRecord),
        ),
        ("region gap", &|r: &mut ProblemRecord| r.data_start += 64),
        ("misplaced block", &|r: &mut ProblemRecord| {
            r.blocks[0].offset += 2
        }),
        ("wrong end", &|r: &mut ProblemRecord| r.data_end += 1),
    ] {
        let err = edit(f);
        assert!(
            matches!(err, StoreError::CorruptIndex { entry: 1, .. }),
            "{what}: {err}"
        );
    }
}

#[test]
fn flipped_row_bytes_fail_verification() {
    let reference = reference_run(4);
    let dir = tempfile::tempdir().unwrap();
    copy_store(reference.dir.path(), dir.path());
    let (_, chunk, end) = reference.after[3];
    flip(
        &dir.path().join(STORE_DIR).join(chunk_file_name(chunk)),
        end - 3,
    );
    for mode in [ReadMode::Mmap, ReadMode::Pread] {
        let store = FeatureStore::open_with(dir.path(), mode).unwrap();
        assert!(matches!(
            store.verify(),
            Err(StoreError::ChecksumMismatch {
                problem_index: 3,
                entry: 3,
                ..
            })
        ));
    }
    // The writer checks the last problem before appending after it.
    assert!(matches!(
        FeatureWriter::resume(dir.path(), &layout()),
        Err(StoreError::ChecksumMismatch {
            problem_index: 3,
            ..
        })
    ));
}

#[test]
fn another_layout_or_chunk_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = layout();
    let mut w =
        FeatureWriter::create_or_resume(dir.path(), &layout, &StoreOptions::default()).unwrap();
    let other = FeatureLayout::hidden(StateSpec::Last(2).resolve(3).unwrap(), 8);
    let err = w.begin(&other, 2).unwrap_err();
    assert!(err.to_string().contains("layout mismatch"), "{err}");
    drop(w);
    let err =
        FeatureWriter::create_or_resume(dir.path(), &other, &StoreOptions::default()).unwrap_err();
    match &err {
        StoreError::LayoutMismatch {
            expected,
            got,
            path,
        } => {
            assert_eq!((**expected).clone(), other);
            assert_eq!((**got).clone(), layout);
            assert!(path.ends_with(MANIFEST_FILE));
        }
        e => panic!("expected LayoutMismatch, got {e}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("expected hidden states 1,2 of a 3-layer model x 8 (F = 16)"),
        "{msg}"
    );
    assert!(
        msg.contains("the store has hidden states 0-3 of a 3-layer model x 8 (F = 32)"),
        "{msg}"
    );
    let store = FeatureStore::open(dir.path()).unwrap();
    store.check_layout(&layout).unwrap();
    assert!(matches!(
        store.check_layout(&FeatureLayout::logits(32)),
        Err(StoreError::LayoutMismatch { .. })
    ));
    assert!(matches!(
        FeatureWriter::create_or_resume(dir.path(), &layout, &small_chunks()),
        Err(StoreError::ChunkLimitMismatch { expected: 1200, .. })
    ));
}

#[test]
fn not_a_store_and_orphaned_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        FeatureStore::open(dir.path()),
        Err(StoreError::NotAStore { .. })
    ));
    std::fs::create_dir_all(dir.path().join(STORE_DIR)).unwrap();
    std::fs::write(dir.path().join(STORE_DIR).join(chunk_file_name(0)), b"rows").unwrap();
    let err = FeatureWriter::create_or_resume(dir.path(), &layout(), &StoreOptions::default())
        .unwrap_err();
    assert!(matches!(err, StoreError::Orphaned { .. }), "{err}");
    // A bad manifest version names the file and both versions.
    let dir = tempfile::tempdir().unwrap();
    FeatureWriter::create_or_resume(dir.path(), &layout(), &StoreOptions::default()).unwrap();
    let m = dir.path().join(STORE_DIR).join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&m)
        .unwrap()
        .replace("format_version: 1", "format_version: 7");
    std::fs::write(&m, text).unwrap();
    assert!(matches!(
        FeatureStore::open(dir.path()),
        Err(StoreError::UnsupportedVersion {
            expected: 1,
            got: 7,
            ..
        })
    ));
}

#[test]
fn out_of_range_values_saturate_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let layout = FeatureLayout::logits(6);
    let mut w =
        FeatureWriter::create_or_resume(dir.path(), &layout, &StoreOptions::default()).unwrap();
    let row = vec![70000.0, -1.0e6, 65510.0, 65504.0, 1.0e-9, -3.5];
    let info = write_problem(&mut w, &layout, 0, &vec![vec![row.clone(), row.clone()]]);
    assert_eq!(
        (info.saturated, info.underflowed, info.max_abs),
        (6, 2, 1.0e6)
    );
    drop(w);
    let store = FeatureStore::open(dir.path()).unwrap();
    let mut out = Vec::new();
    store.read_rows(0, &mut out).unwrap();
    assert_eq!(&out[..6], &[65504.0, -65504.0, 65504.0, 65504.0, 0.0, -3.5]);
    let s = store.stats();
    assert_eq!((s.saturated, s.underflowed, s.max_abs), (6, 2, 1.0e6));
    assert!((s.saturated_fraction() - 0.5).abs() < 1e-12);
}

#[test]
fn non_finite_values_reject_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let layout = FeatureLayout::logits(3);
    let mut w =
        FeatureWriter::create_or_resume(dir.path(), &layout, &StoreOptions::default()).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        w.begin(&layout, 2).unwrap();
        w.token(0, 0, &[1.0, 2.0, 3.0]).unwrap();
        let err = w.token(1, 0, &[1.0, bad, 3.0]).unwrap_err();
        assert!(err.to_string().contains("column 1"), "{err}");
        // The problem stays rejected: more rows and the commit fail.
        assert!(w.token(0, 1, &[1.0, 2.0, 3.0]).is_err());
        w.end().unwrap();
        assert!(matches!(
            w.commit_problem(0),
            Err(StoreError::Rejected { .. })
        ));
    }
    // A fresh begin starts over.
    write_problem(&mut w, &layout, 0, &vec![vec![vec![1.0, 2.0, 3.0]]]);
    assert_eq!(w.n_problems(), 1);
}

#[test]
fn the_sink_protocol_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let layout = FeatureLayout::logits(2);
    let mut w =
        FeatureWriter::create_or_resume(dir.path(), &layout, &StoreOptions::default()).unwrap();
    assert!(matches!(
        w.commit_problem(0),
        Err(StoreError::NothingPending)
    ));
    assert!(w.token(0, 0, &[1.0, 2.0]).is_err());
    w.begin(&layout, 2).unwrap();
    w.token(0, 0, &[1.0, 2.0]).unwrap();
    assert!(matches!(w.commit_problem(0), Err(StoreError::NotEnded)));
    w.end().unwrap();
    assert_eq!(w.commit_problem(0).unwrap().rows, 1);
    for (c, pos, row, want) in [
        (0usize, 1usize, vec![1.0f32, 2.0], "expected row 0"),
        (2, 0, vec![1.0, 2.0], "out of range"),
        (0, 0, vec![1.0], "has 2"),
    ] {
        w.begin(&layout, 2).unwrap();
        let err = w.token(c, pos, &row).unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }
    // Re-committing a stored problem, or going backwards, is refused; gaps are allowed.
    feed(&mut w, &layout, &vec![vec![], vec![vec![0.5, 0.5]]]);
    assert!(matches!(
        w.commit_problem(0),
        Err(StoreError::AlreadyStored { problem_index: 0 })
    ));
    assert_eq!(w.commit_problem(5).unwrap().rows, 1);
    feed(&mut w, &layout, &vec![vec![]]);
    assert!(matches!(
        w.commit_problem(3),
        Err(StoreError::OutOfOrder {
            problem_index: 3,
            last: 5
        })
    ));
    assert!(matches!(
        w.commit_problem(5),
        Err(StoreError::AlreadyStored { .. })
    ));
    w.commit_problem(6).unwrap();
    assert_eq!(w.next_problem_index(), 7);
    assert!(w.contains(5) && !w.contains(3));
    drop(w);
    let store = FeatureStore::open(dir.path()).unwrap();
    assert_eq!(store.problem_indices().collect::<Vec<_>>(), vec![0, 5, 6]);
    assert_eq!(store.n_candidates_of(6), Some(1));
    // Re-committing after a reopen is refused too.
    let mut w = FeatureWriter::resume(dir.path(), &layout).unwrap();
    feed(&mut w, &layout, &vec![vec![]]);
    assert!(matches!(
        w.commit_problem(5),
        Err(StoreError::AlreadyStored { .. })
    ));
}

#[test]
fn projection_equals_slicing_a_full_read() {
    let dir = tempfile::tempdir().unwrap();
    let layout = layout();
    let problems: Vec<Problem> = (0..4).map(|p| gen_problem(p, layout.width())).collect();
    let mut w =
        FeatureWriter::create_or_resume(dir.path(), &layout, &StoreOptions::default()).unwrap();
    for (p, rows) in problems.iter().enumerate() {
        write_problem(&mut w, &layout, p as u64, rows);
    }
    drop(w);
    let store = FeatureStore::open(dir.path()).unwrap();
    let last2 = Projection::spec(store.layout(), &StateSpec::Last(2)).unwrap();
    assert_eq!(last2.segment_indices(), &[1, 2]);
    assert_eq!(
        last2.layout(),
        &FeatureLayout::hidden(StateSpec::Last(2).resolve(3).unwrap(), 8)
    );
    let split = Projection::states(store.layout(), &[0, 2, 3]).unwrap();
    assert_eq!(split.width(), 24);
    let (mut full, mut part) = (Vec::new(), Vec::new());
    for proj in [&last2, &split] {
        for i in 0..store.len() {
            store.read_rows(i, &mut full).unwrap();
            store.read_projected(i, proj, &mut part).unwrap();
            let want: Vec<f32> = full
                .chunks_exact(32)
                .flat_map(|row| {
                    proj.segment_indices()
                        .iter()
                        .flat_map(move |&s| row[s * 8..(s + 1) * 8].to_vec())
                })
                .collect();
            assert_eq!(part, want, "entry {i}");
        }
    }
    // Invalid selections.
    for bad in [&[2usize, 1][..], &[4], &[], &[1, 1]] {
        assert!(
            matches!(
                Projection::segments(store.layout(), bad),
                Err(StoreError::BadProjection { .. })
            ),
            "{bad:?}"
        );
    }
    let err = Projection::states(&last2.layout().clone(), &[0]).unwrap_err();
    assert!(
        err.to_string()
            .contains("state 0 is not stored (stored states: 1,2)"),
        "{err}"
    );
    assert!(Projection::spec(&FeatureLayout::logits(4), &StateSpec::Last(1)).is_err());
    let foreign = Projection::segments(
        &FeatureLayout::hidden(StateSpec::All.resolve(3).unwrap(), 4),
        &[0],
    )
    .unwrap();
    assert!(store.read_projected(0, &foreign, &mut part).is_err());
}

fn record(problem_index: u64, candidate: u32, n_covered: u32, correct: bool) -> CandidateRecord {
    CandidateRecord {
        problem_id: format!("p{problem_index}"),
        problem_index,
        candidate,
        seed: 0,
        text: String::new(),
        answer: None,
        correct,
        n_tokens: n_covered,
        n_covered,
        finish: FinishReason::Eos,
        mean_logprob: 0.0,
        token_logprobs: Vec::new(),
        token_entropy: None,
        token_self_certainty: None,
    }
}

#[test]
fn labels_attach_to_stored_candidates_and_mismatches_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let layout = layout();
    let problems: Vec<Problem> = (0..3).map(|p| gen_problem(p, layout.width())).collect();
    let mut w =
        FeatureWriter::create_or_resume(dir.path(), &layout, &StoreOptions::default()).unwrap();
    for (p, rows) in problems.iter().enumerate() {
        write_problem(&mut w, &layout, p as u64, rows);
    }
    drop(w);
    let store = FeatureStore::open(dir.path()).unwrap();
    let mut records: Vec<CandidateRecord> = Vec::new();
    for (p, rows) in problems.iter().enumerate() {
        for (c, cand) in rows.iter().enumerate() {
            records.push(record(
                p as u64,
                c as u32,
                cand.len() as u32,
                (p + c) % 2 == 0,
            ));
        }
    }
    records.reverse(); // order does not matter
    let data = LabelledStore::from_records(&store, &records).unwrap();
    assert_eq!(data.n_candidates(), store.len());
    let mut rows = Vec::new();
    for i in 0..data.n_candidates() {
        let e = store.entries()[i];
        assert_eq!(data.group(i), e.problem_index);
        assert_eq!(
            data.label(i),
            (e.problem_index as usize + e.candidate as usize) % 2 == 0
        );
        assert_eq!(
            data.n_tokens(i),
            problems[e.problem_index as usize][e.candidate as usize].len()
        );
        data.read_rows(i, &mut rows).unwrap();
        assert_eq!(rows.len(), data.n_tokens(i) * data.layout().width());
    }
    let projected = LabelledStore::from_records(&store, &records)
        .unwrap()
        .with_projection(Projection::spec(store.layout(), &StateSpec::Last(1)).unwrap())
        .unwrap();
    assert_eq!(projected.layout().width(), 8);
    let i = (0..store.len())
        .find(|&i| store.entries()[i].n_rows > 0)
        .unwrap();
    projected.read_rows(i, &mut rows).unwrap();
    assert_eq!(rows.len(), projected.n_tokens(i) * 8);

    let mut missing = records.clone();
    let gone = missing.remove(0);
    assert!(matches!(
        LabelledStore::from_records(&store, &missing),
        Err(StoreError::FeaturesWithoutLabel { problem_index, candidate }) if (problem_index, candidate) == (gone.problem_index, gone.candidate)
    ));
    let mut extra = records.clone();
    extra.push(record(9, 0, 0, true));
    assert!(matches!(
        LabelledStore::from_records(&store, &extra),
        Err(StoreError::LabelWithoutFeatures {
            problem_index: 9,
            candidate: 0
        })
    ));
    let mut dup = records.clone();
    dup.push(records[0].clone());
    assert!(matches!(
        LabelledStore::from_records(&store, &dup),
        Err(StoreError::DuplicateLabel { .. })
    ));
    let mut miscounted = records.clone();
    miscounted[0].n_covered += 1;
    assert!(matches!(
        LabelledStore::from_records(&store, &miscounted),
        Err(StoreError::RowCountMismatch { record, stored, .. }) if record == stored + 1
    ));
    let labels: Vec<(u64, u32, bool)> = records
        .iter()
        .map(|r| (r.problem_index, r.candidate, r.correct))
        .collect();
    let by_tuple = LabelledStore::from_labels(&store, &labels).unwrap();
    assert_eq!(by_tuple.labels(), data.labels());
    assert!(LabelledStore::from_labels(&store, &labels[1..]).is_err());
}

#[test]
fn decoding_matches_scalar_conversion_across_blocks() {
    let mut rng = Rng::new(5);
    let mut halves: Vec<u16> = (0..5000).map(|_| rng.next_u32() as u16).collect();
    // Include the special values explicitly, but no NaN (NaN != NaN would fail the comparison).
    halves.extend([
        0x0000, 0x8000, 0x0001, 0x03ff, 0x7bff, 0xfbff, 0x7c00, 0xfc00,
    ]);
    halves.retain(|&h| !f16::from_bits(h).is_nan());
    let bytes: Vec<u8> = halves.iter().flat_map(|h| h.to_le_bytes()).collect();
    let mut out = vec![0f32; halves.len()];
    decode_f16_le(&bytes, &mut out);
    for (h, x) in halves.iter().zip(&out) {
        assert_eq!(
            x.to_bits(),
            f16::from_bits(*h).to_f32().to_bits(),
            "{h:#06x}"
        );
    }
}

#[test]
fn readers_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<FeatureStore>();
    shareable::<LabelledStore<'static>>();
    shareable::<StoreError>();
    let dir = tempfile::tempdir().unwrap();
    let layout = layout();
    let problems: Vec<Problem> = (0..5).map(|p| gen_problem(p, layout.width())).collect();
    let mut w = FeatureWriter::create_or_resume(dir.path(), &layout, &small_chunks()).unwrap();
    for (p, rows) in problems.iter().enumerate() {
        write_problem(&mut w, &layout, p as u64, rows);
    }
    assert_eq!(w.manifest().chunk_limit_bytes, 1200);
    drop(w);
    let store = FeatureStore::open(dir.path()).unwrap();
    assert_eq!(store.manifest().dtype, Dtype::F16);
    std::thread::scope(|s| {
        for part in 0..2 {
            let (store, problems) = (&store, &problems);
            s.spawn(move || {
                for p in (part..problems.len()).step_by(2) {
                    assert_problem(store, p as u64, &problems[p]);
                }
            });
        }
    });
}

/// Environment variable that turns the next test into the child writer process.
#[cfg(unix)]
const CHILD_ENV: &str = "SWIFT_BON_STORE_TEST_CHILD_DIR";

#[cfg(unix)]
#[test]
fn a_killed_writer_process_leaves_a_resumable_store() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    let layout = layout();
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        // Child: append problems until killed.
        let dir = Path::new(&dir);
        let mut w = FeatureWriter::create_or_resume(dir, &layout, &small_chunks()).unwrap();
        for p in w.next_problem_index()..1_000_000 {
            write_problem(&mut w, &layout, p, &gen_problem(p, layout.width()));
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(11);
    for round in 0..6 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "dataset::store::tests::a_killed_writer_process_leaves_a_resumable_store",
                "--exact",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100 + rng.below(400)));
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.signal(),
            Some(9),
            "round {round}: the child ended on its own: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if !dir.path().join(STORE_DIR).join(MANIFEST_FILE).exists() {
            continue; // killed before it created the store
        }
        let store = FeatureStore::open_with(dir.path(), ReadMode::Pread).unwrap();
        let n = store.next_problem_index();
        assert_eq!(
            store.problem_indices().collect::<Vec<_>>(),
            (0..n).collect::<Vec<_>>()
        );
        for p in 0..n {
            assert_problem(&store, p, &gen_problem(p, layout.width()));
        }
        store.verify().unwrap();
    }
    // Finish a few more problems and compare with an uninterrupted run of the same length.
    let mut w = FeatureWriter::create_or_resume(dir.path(), &layout, &small_chunks()).unwrap();
    let end = w.next_problem_index() + 3;
    for p in w.next_problem_index()..end {
        write_problem(&mut w, &layout, p, &gen_problem(p, layout.width()));
    }
    drop(w);
    let reference = tempfile::tempdir().unwrap();
    let mut r =
        FeatureWriter::create_or_resume(reference.path(), &layout, &small_chunks()).unwrap();
    for p in 0..end {
        write_problem(&mut r, &layout, p, &gen_problem(p, layout.width()));
    }
    drop(r);
    assert_eq!(files(dir.path()), files(reference.path()));
}

/// Lengths of every chunk file of the store in `dir`.
fn chunk_lens(dir: &Path) -> BTreeMap<String, u64> {
    files(dir)
        .into_iter()
        .filter(|(name, _)| name.contains("chunk-"))
        .map(|(name, bytes)| (name, bytes.len() as u64))
        .collect()
}

#[test]
fn a_reader_mapping_the_store_survives_a_rollback_and_what_follows() {
    let dir = tempfile::tempdir().unwrap();
    let layout = layout();
    let width = layout.width();
    // One chunk, so that the rollback falls inside it, several pages past the new end.
    let mut w =
        FeatureWriter::create_or_resume(dir.path(), &layout, &StoreOptions::default()).unwrap();
    let old: Vec<Problem> = (0..48).map(|p| gen_problem(p, width)).collect();
    for (p, rows) in old.iter().enumerate() {
        write_problem(&mut w, &layout, p as u64, rows);
    }
    let reader = FeatureStore::open_with(dir.path(), ReadMode::Mmap).unwrap();
    assert!(reader.is_mapped());
    let mapped = chunk_lens(dir.path());
    assert!(mapped["chunk-00000.bin"] > 3 * 4096, "{mapped:?}");

    // Roll back to two problems: through the index only.
    let mut w = w.truncate_problems(2).unwrap();
    assert_eq!(w.n_problems(), 2);
    let after = chunk_lens(dir.path());
    for (name, len) in &after {
        assert!(
            *len >= mapped[name],
            "{name} shrank from {} to {len} under a reader's map",
            mapped[name]
        );
    }
    // Every row the old reader maps is still readable (the old code cut the chunk under the
    // map and this read died of SIGBUS), and it still holds what it held.
    let mut rows = Vec::new();
    for i in 0..reader.len() {
        reader.read_rows(i, &mut rows).unwrap();
    }
    assert_problem(&reader, 13, &old[13]);

    // The writer goes on over the rolled-back bytes; a new reader sees exactly the new data.
    let new: Vec<Problem> = (0..3).map(|p| gen_problem(p + 100, width)).collect();
    for (i, rows) in new.iter().enumerate() {
        write_problem(&mut w, &layout, 2 + i as u64, rows);
    }
    drop(w);
    let fresh = FeatureStore::open(dir.path()).unwrap();
    let want: usize = old[..2].iter().chain(&new).map(Vec::len).sum();
    assert_eq!(fresh.len(), want);
    assert_problem(&fresh, 1, &old[1]);
    for (i, rows) in new.iter().enumerate() {
        assert_problem(&fresh, 2 + i as u64, rows);
    }
    fresh.verify().unwrap();
    // The old reader still reads without faulting, whatever it now finds.
    for i in 0..reader.len() {
        reader.read_rows(i, &mut rows).unwrap();
    }
    // A later resume does not shrink anything either.
    let before = chunk_lens(dir.path());
    drop(FeatureWriter::resume(dir.path(), &layout).unwrap());
    for (name, len) in chunk_lens(dir.path()) {
        assert!(
            len >= before.get(&name).copied().unwrap_or(0),
            "{name} shrank on resume"
        );
    }
}
