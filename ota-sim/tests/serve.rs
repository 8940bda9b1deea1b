//! The CLI as a user strings it together, every piece a process: `ota-sim serve` (embedded
//! endpoint, HTTP, admin API), `keygen`, `image`, `device`, `job create` over HTTP,
//! `job status`, `job cancel`, `device-status`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Device;
use serde_json::Value;

fn sim(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ota-sim"))
        .args(args)
        .output()
        .expect("run ota-sim");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.success(),
        text + &String::from_utf8_lossy(&out.stderr),
    )
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn serve_job_create_status_cancel_and_a_device_over_http() {
    let dir = std::env::temp_dir().join(format!("ota-sim-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data");
    let _serve = Device::spawn(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--data",
            &p(&data),
        ]
        .map(String::from),
        None,
    );
    let t0 = Instant::now();
    let endpoints: Value = loop {
        if let Ok(t) = std::fs::read_to_string(data.join("endpoints.json")) {
            break serde_json::from_str(&t).unwrap();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "serve wrote no endpoints.json"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mqtt, http, admin) = (
        endpoints["mqtt"].as_str().unwrap(),
        endpoints["http"].as_str().unwrap(),
        endpoints["admin"].as_str().unwrap(),
    );
    assert!(
        mqtt.starts_with("mqtt://127.0.0.1:") && !mqtt.ends_with(":0"),
        "{mqtt}"
    );
    assert!(
        http.starts_with("http://127.0.0.1:") && !http.ends_with(":0"),
        "{http}"
    );

    let (key, public, fw) = (dir.join("k.pem"), dir.join("k.pub.pem"), dir.join("fw.bin"));
    assert!(sim(&["keygen", "--out", &p(&key), "--public", &p(&public)]).0);
    assert!(
        sim(&[
            "image",
            "--version",
            "1.0.1",
            "--size",
            "70000",
            "--out",
            &p(&fw)
        ])
        .0
    );
    let state = dir.join("board");
    let _device = Device::spawn(
        &[
            "device",
            "--broker",
            mqtt,
            "--thing",
            "board",
            "--state",
            &p(&state),
            "--trust",
            &p(&public),
            "--self-test-timeout",
            "5",
        ]
        .map(String::from),
        None,
    );
    let (ok, out) = sim(&[
        "job",
        "create",
        "--admin",
        admin,
        "--job-id",
        "up1",
        "--thing",
        "board",
        "--image",
        &p(&fw),
        "--key",
        &p(&key),
        "--protocol",
        "http",
    ]);
    assert!(ok, "{out}");
    let t0 = Instant::now();
    let status = loop {
        let (ok, out) = sim(&[
            "job", "status", "--admin", admin, "--job-id", "up1", "--thing", "board",
        ]);
        assert!(ok, "{out}");
        let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        if v["status"] == "SUCCEEDED" || v["status"] == "FAILED" {
            break v;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status["status"], "SUCCEEDED", "{status}");
    let (ok, out) = sim(&["device-status", "--state", &p(&state)]);
    assert!(ok, "{out}");
    let st: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(st["running_version"], "1.0.1");
    // The admin API cancels a job nobody has started.
    let (ok, out) = sim(&[
        "job",
        "create",
        "--admin",
        admin,
        "--job-id",
        "up2",
        "--thing",
        "absent",
        "--image",
        &p(&fw),
        "--unsigned",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = sim(&["job", "cancel", "--admin", admin, "--job-id", "up2"]);
    assert!(ok && out.contains("\"canceled\":1"), "{out}");
    let (_, out) = sim(&[
        "job", "status", "--admin", admin, "--job-id", "up2", "--thing", "absent",
    ]);
    assert!(out.contains("CANCELED"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
