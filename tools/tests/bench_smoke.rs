//! `vigia bench --quick`: the whole benchmark on tiny networks and counts, so that every
//! part of it still runs (a benchmark nobody runs rots), and its JSON holds every figure.

use std::process::Command;

/// Benchmark ports of this test: inside the bench's own range, spread by process id so two
/// test runs on one machine (two engineers, or CI beside a developer) do not collide.
fn base_port() -> u16 {
    const FIRST: u32 = 61_000;
    const SLOTS: u32 = 50;
    const STRIDE: u32 = 8;
    u16::try_from(FIRST + (std::process::id() % SLOTS) * STRIDE).expect("port in range")
}

#[test]
fn quick_benchmark_measures_every_part() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let json = dir.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_vigia"))
        .args([
            "bench",
            "--quick",
            "--base-port",
            &base_port().to_string(),
            "--json",
        ])
        .arg(&json)
        .arg("--dir")
        .arg(dir.path().join("work"))
        .output()
        .expect("the vigia binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "vigia bench --quick failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("| # | figure |"), "no table:\n{stdout}");

    let text = std::fs::read_to_string(&json).expect("JSON written");
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(report["failures"], serde_json::json!([]));
    assert!(report["floors"]["loopback"]["p50_ms"].as_f64() > Some(0.0));
    assert!(report["ingest"]["ledger_pages_per_sec"].as_f64() > Some(0.0));
    let network = &report["networks"][0];
    assert_eq!(network["propagation"]["missing"], 0);
    assert!(network["propagation"]["to_each"]["count"].as_u64() > Some(0));
    assert!(network["idle"]["total_mb"].as_f64() > Some(0.0));
    assert!(report["catch_up"]["missed"].as_u64() > Some(0));
    assert!(report["catch_up"]["byte_ratio"].as_f64() > Some(0.0));
    assert!(report["search"]["search"]["count"].as_u64() > Some(0));
    assert!(report["scale"]["largest"].as_u64() > Some(0), "{text}");
}
