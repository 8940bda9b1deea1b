//! `ota-sim demo` as a user runs it (the binary), over MQTT and over HTTP: exit status 0, the
//! job SUCCEEDED and the device runs the new version.

use std::process::Command;

fn demo(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ota-sim"))
        .arg("demo")
        .args(args)
        .output()
        .expect("run ota-sim demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ota-sim demo {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn demo_over_mqtt_succeeds() {
    let out = demo(&["--size", "262144"]);
    assert!(out.contains("MQTT update 1.0.0 -> 1.1.0"), "{out}");
    assert!(
        out.contains("result: job SUCCEEDED, device runs 1.1.0"),
        "{out}"
    );
    assert!(out.contains("SUCCEEDED    reason=accepted v1.1.0"), "{out}");
}

#[test]
fn demo_over_http_succeeds() {
    let out = demo(&["--protocol", "http", "--size", "262144"]);
    assert!(out.contains("HTTP update 1.0.0 -> 1.1.0"), "{out}");
    assert!(
        out.contains("result: job SUCCEEDED, device runs 1.1.0"),
        "{out}"
    );
}
