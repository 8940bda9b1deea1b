//! The device binary and the emulator (as a client) on Debian's mosquitto.

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ota_cloud::{JobExecutionStatus as S, Protocol};

fn mosquitto_bin() -> &'static str {
    for p in [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ] {
        if std::path::Path::new(p).exists() {
            return p;
        }
    }
    panic!(
        "mosquitto not found: this test runs the device against Debian's MQTT broker. \
         Install it with `apt-get install -y mosquitto`"
    );
}

struct Mosquitto {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Mosquitto {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("ota-sim-mosq-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 set_tcp_nodelay true\nlog_dest stderr\nlog_type error\n"
            ),
        )
        .unwrap();
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "mosquitto did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port, dir }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_binary_updates_through_mosquitto_with_the_emulator_as_a_client() {
    let m = Mosquitto::start();
    let env = Env::with_broker(None, m.port).await;
    let _d = env.device("dev", &[]);
    env.job("j1", "dev", img("1.0.1"), Protocol::Mqtt, env.signed());
    assert_eq!(
        env.wait_terminal("dev", "j1", 30).await,
        S::Succeeded,
        "{}",
        env.history("dev", "j1")
    );
    env.wait_version("dev", "1.0.1", 10).await;
    // And a refused one, through the same broker.
    env.job("j2", "dev", img("1.0.0"), Protocol::Mqtt, env.signed());
    assert_ne!(env.wait_terminal("dev", "j2", 30).await, S::Succeeded);
    env.wait_version("dev", "1.0.1", 10).await;
}
