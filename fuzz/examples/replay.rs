//! Replays `agent` inputs with a trace of every input and action on stderr: a crash file from
//! `artifacts/agent/`, a corpus file, or a named seed scenario.
//!
//! ```text
//! cd fuzz && cargo run --example replay -- artifacts/agent/crash-...
//! cd fuzz && cargo run --example replay -- --scenario mqtt-update-accept
//! ```
//!
//! Build with `RUSTFLAGS="--cfg fuzzing"` to replay what the fuzzer ran (signature check
//! skipped); without it the final signature comparison is done.

use ota_fuzz::input::AgentInput;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let inputs: Vec<(String, AgentInput)> = match args.as_slice() {
        [flag, name] if flag == "--scenario" => ota_fuzz::seeds::agent_scenarios()
            .into_iter()
            .chain(ota_fuzz::seeds::findings())
            .filter(|(n, _)| n == name)
            .map(|(n, i)| (n.to_string(), i))
            .collect(),
        files => files
            .iter()
            .map(|f| {
                let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{f}: {e}"));
                (f.clone(), AgentInput::from_bytes(&bytes))
            })
            .collect(),
    };
    if inputs.is_empty() {
        eprintln!("usage: replay <file>... | replay --scenario <name>");
        std::process::exit(2);
    }
    for (name, input) in inputs {
        eprintln!("=== {name}: {:?}", input.setup);
        let summary = ota_fuzz::harness::run(&input, true);
        println!("{name}: {summary:?}");
    }
}
