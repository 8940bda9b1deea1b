//! Runs an `ota_core::Agent` over minimq through [`OtaMqtt`] against an MQTT broker and prints
//! its actions and notifications until the service answers (no job, or a job), or a timeout.
//!
//! ```sh
//! cargo run -p ota-mqtt-minimq --example agent_over_minimq -- 127.0.0.1:1883 my-thing
//! cargo run -p ota-mqtt-minimq --example agent_over_minimq   # a mosquitto of its own, if installed
//! ```
//!
//! Against `ota-sim serve` (or AWS IoT Jobs behind a TLS bridge) the agent's `$next/get` is
//! answered: `NoActiveJob` ends the run; a job ends it too (this example downloads nothing and
//! executes no platform action). A plain mosquitto answers nothing: the agent retries its
//! `$next/get` until the timeout. Exits non-zero when the broker cannot be reached or the
//! connection drops.

use minimq::{Buffers, ConfigBuilder, Session};
use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{
    Action, Agent, BootInfo, Config, Event, Input, Instant, PlatformImageState, Version,
};
use ota_mqtt_minimq::{OtaMqtt, Received};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

/// How a run ended.
enum End {
    /// The agent reported `NoActiveJob`.
    NoJob,
    /// The agent received a job (not downloaded here).
    Job,
    /// The agent asked for something this example does not execute.
    Stopped,
}

/// A mosquitto of the example's own on a free loopback port, killed on drop.
struct Mosquitto {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl Mosquitto {
    fn start(bin: &Path) -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir =
            std::env::temp_dir().join(format!("ota-mqtt-example-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let conf = dir.join("mosquitto.conf");
        let text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             log_dest stderr\nlog_type error\n"
        );
        std::fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let mut m = Self { port, dir, child };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = m.child.try_wait() {
                return Err(format!("mosquitto exited at start: {status}"));
            }
            if std::time::Instant::now() > deadline {
                m.stop();
                return Err("mosquitto did not listen in time".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(m)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Prints one action and says whether the run is over.
fn show(action: &Action<'_>) -> Option<End> {
    match *action {
        Action::Subscribe { topic, qos } => println!("subscribe   {topic} ({qos:?})"),
        Action::Unsubscribe { topic } => println!("unsubscribe {topic}"),
        Action::Publish {
            topic,
            payload,
            qos,
        } => println!(
            "publish     {topic} ({qos:?}) {}",
            String::from_utf8_lossy(payload)
        ),
        Action::Notify(Event::NoActiveJob) => {
            println!("notify      NoActiveJob");
            return Some(End::NoJob);
        }
        Action::Notify(e @ Event::ReceivedJob { .. }) => {
            println!("notify      {e:?}");
            return Some(End::Job);
        }
        Action::Notify(e) => println!("notify      {e:?}"),
        other => {
            println!("not executed here: {other:?}");
            return Some(End::Stopped);
        }
    }
    None
}

async fn run(addr: &str, thing: &str, limit: Duration) -> Result<Option<End>, String> {
    // The signing key only matters for a download, which this example never starts.
    let signer = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).map_err(|e| e.to_string())?;
    let keys = [TrustedKey {
        name: None,
        key: *signer.verifying_key(),
    }];
    let config = Config::new(thing, Version::new(1, 0, 0));
    let (mut block, mut job, mut bitmap, mut url) =
        ([0u8; 4096], [0u8; 4096], [0u8; 128], [0u8; 2048]);
    let buffers = ota_core::Buffers {
        block: &mut block,
        job: &mut job,
        bitmap: &mut bitmap,
        url: &mut url,
    };
    let mut agent =
        Agent::new(config, buffers, P256Verifier::new(&keys)).map_err(|e| format!("{e:?}"))?;

    let (mut rx, mut tx) = ([0u8; 6 * 1024], [0u8; 4 * 1024]);
    let mqtt_config = ConfigBuilder::new(Buffers::new(&mut rx, &mut tx))
        .client_id(thing)
        .map_err(|e| format!("client id {thing:?}: {e:?}"))?
        .keepalive_interval(30);
    let mut session = Session::new(mqtt_config);
    let mut ota = OtaMqtt::for_session(&config, 4096, &session).map_err(|e| e.to_string())?;

    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut conn = session
        .connect(embedded_io_adapters::tokio_1::FromTokio::new(tcp))
        .await
        .map_err(|e| format!("MQTT connect to {addr}: {e:?}"))?;
    println!("connected to {addr} as {thing}");
    let _ = ota.connected(); // the first connection: the agent subscribes on Start

    let t0 = std::time::Instant::now();
    let now = || Instant::from_millis(t0.elapsed().as_millis() as u64);
    let boot = BootInfo {
        platform_state: PlatformImageState::Valid,
        resume: None,
    };
    agent
        .handle(now(), Input::Start(boot))
        .map_err(|e| format!("{e:?}"))?;
    loop {
        while let Some(action) = agent.poll() {
            if let Some(end) = show(&action) {
                return Ok(Some(end));
            }
            if let Err(e) = ota.execute(&mut conn, &action).await {
                return Err(format!("{e:?}"));
            }
        }
        let left = limit.saturating_sub(t0.elapsed());
        if left.is_zero() {
            return Ok(None);
        }
        let wait = agent.poll_timeout().map_or(left, |t| {
            Duration::from_millis(t.as_millis().saturating_sub(now().as_millis())).min(left)
        });
        match tokio::time::timeout(wait, ota.recv(&mut conn)).await {
            Err(_) => agent.handle_timeout(now()),
            Ok(Ok(Received::Ota(input))) => {
                if let Input::Message { topic, payload } = input {
                    println!("message     {topic} {}", String::from_utf8_lossy(payload));
                }
                agent.handle(now(), input).map_err(|e| format!("{e:?}"))?;
            }
            Ok(Ok(Received::App(msg))) => println!("application message on {}", msg.topic()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("connection lost: {e:?}")),
        }
    }
}

fn usage() {
    eprintln!(
        "usage: agent_over_minimq HOST:PORT THING\n\
         (no arguments: runs against a mosquitto of its own when /usr/sbin/mosquitto exists)"
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut _broker = None;
    let (addr, thing, limit) = match args.as_slice() {
        [addr, thing] => (addr.clone(), thing.clone(), Duration::from_secs(30)),
        [] => {
            let bin = Path::new("/usr/sbin/mosquitto");
            if !bin.exists() {
                usage();
                return ExitCode::SUCCESS;
            }
            match Mosquitto::start(bin) {
                Ok(m) => {
                    println!(
                        "started mosquitto on 127.0.0.1:{} (answers no jobs)",
                        m.port
                    );
                    let addr = format!("127.0.0.1:{}", m.port);
                    _broker = Some(m);
                    (addr, "example-thing".to_string(), Duration::from_secs(3))
                }
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        _ => {
            usage();
            return ExitCode::from(2);
        }
    };
    match run(&addr, &thing, limit).await {
        Ok(Some(End::NoJob)) => println!("no active job for {thing}"),
        Ok(Some(End::Job)) => println!("a job is waiting for {thing} (not downloaded here)"),
        Ok(Some(End::Stopped)) => println!("stopped"),
        Ok(None) => println!("no answer from a Jobs service within {limit:?}"),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
