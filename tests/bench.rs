//! Smoke test of `swift-bon bench`: a tiny run (N = 2, a few tokens, one run) must produce the
//! promised JSON shape. Speed is never asserted here; the benchmark only reports.

mod common;

use std::process::Command;

use serde_json::Value;

#[test]
fn bench_json_has_the_promised_shape() {
    let model = common::smollm2();
    let _serial = common::serial();
    let out = Command::new(env!("CARGO_BIN_EXE_swift-bon"))
        .args(["-q", "bench", "--model"])
        .arg(&model)
        .args([
            "--n",
            "1,2",
            "--max-tokens",
            "3",
            "--runs",
            "1",
            "--rss-n",
            "2",
            "--train-problems",
            "2",
            "--train-tokens",
            "4",
            "--train-epochs",
            "2",
            "--json",
        ])
        .output()
        .expect("run swift-bon bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).expect("bench prints JSON");

    assert_eq!(r["schema"], "swift-bon-bench/1");
    for key in ["command", "version", "template"] {
        assert!(r[key].is_string(), "{key}");
    }
    assert!(r["machine"]["logical_cpus"].as_u64().unwrap() >= 1);
    assert_eq!(r["model"]["n_layer"], 30);
    assert!(r["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(r["config"]["runs"], 1);

    let summary = |v: &Value, what: &str| {
        for k in ["median", "min", "max"] {
            assert!(v[k].is_number(), "{what}.{k} in {v}");
        }
        assert_eq!(
            v["values"].as_array().map(Vec::len),
            Some(1),
            "{what}.values"
        );
    };
    let decode = r["decode"].as_array().expect("decode");
    assert_eq!(decode.len(), 2);
    for (d, n) in decode.iter().zip([1, 2]) {
        assert_eq!(d["n"], n);
        assert_eq!(
            d["tokens_match"], true,
            "variants must generate the same tokens"
        );
        let names: Vec<&str> = d["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["variant"].as_str().unwrap())
            .collect();
        // SmolLM2 (llama) supports the layer-input backend: its variants run side by side.
        let mut want = vec![
            "plain",
            "capture_all",
            "capture_last4",
            "capture_score",
            "capture_all_li",
            "capture_last4_li",
            "capture_score_li",
        ];
        if n > 1 {
            want.push("sequential");
        }
        want.push("two_pass");
        assert_eq!(names, want);
        for v in d["variants"].as_array().unwrap() {
            summary(&v["tokens_per_s"], "tokens_per_s");
            summary(&v["ratio_to_plain"], "ratio_to_plain");
            summary(&v["wall_s"], "wall_s");
            assert!(v["generated_tokens"].as_u64().unwrap() >= n);
        }
        summary(&d["inline_vs_two_pass"]["speedup"], "inline_vs_two_pass");
        let backends = d["layer_input_vs_callback"].as_array().expect("backends");
        assert_eq!(backends.len(), 3);
        for b in backends {
            summary(&b["tps_ratio"], "tps_ratio");
        }
        assert_eq!(
            backends[2]["scores_identical"], true,
            "both backends give bit-identical scores"
        );
        // Inline capture and the teacher-forced re-encode give the same scores.
        assert!(d["max_score_rel_diff"].as_f64().unwrap() < 1e-3);
        if n > 1 {
            summary(&d["batch_vs_sequential"]["speedup"], "batch_vs_sequential");
        } else {
            assert!(d["batch_vs_sequential"].is_null());
        }
    }

    let scoring = r["head"]["scoring"].as_array().expect("head.scoring");
    assert_eq!(scoring.len(), 3);
    assert_eq!(scoring[0]["width"], 31 * 576);
    summary_like(&scoring[0]["ns_per_token"]);
    let training = &r["head"]["training"];
    assert_eq!(training["candidates"], 16);
    assert_eq!(training["epochs"], 2);
    assert!(training["seconds"].as_f64().unwrap() > 0.0);

    let memory = &r["memory"];
    assert_eq!(memory["n"], 2);
    let ways: Vec<&str> = memory["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["variant"].as_str().unwrap())
        .collect();
    assert_eq!(ways, ["plain", "streaming", "storing"]);
    for v in memory["variants"].as_array().unwrap() {
        assert!(v["peak_rss_mib"]["median"].as_f64().unwrap() > 10.0);
    }
    assert!(memory["streaming_minus_plain_mib"].is_number());

    let targets = r["targets"].as_array().expect("targets");
    assert!(targets
        .iter()
        .all(|t| t["id"].is_string() && t["met"].is_boolean() && t["measured"].is_number()));
}

fn summary_like(v: &Value) {
    assert!(v["median"].as_f64().unwrap() > 0.0, "{v}");
    assert!(
        v["min"].as_f64().unwrap() <= v["max"].as_f64().unwrap(),
        "{v}"
    );
}
