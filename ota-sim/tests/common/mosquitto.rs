//! Debian's mosquitto as the broker (`apt-get install -y mosquitto`).

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn mosquitto_bin() -> &'static str {
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

/// A mosquitto process on loopback with its own configuration, killed on drop.
pub struct Mosquitto {
    child: Child,
    /// The plain listener.
    pub port: u16,
    /// Its directory (configuration, certificates).
    pub dir: std::path::PathBuf,
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Mosquitto {
    /// A plain listener only.
    pub fn start() -> Self {
        Self::start_with(|_| String::new())
    }

    /// A plain listener, then what `extra(dir)` adds to the configuration (more listeners);
    /// files it names can be written into `dir` before it returns.
    pub fn start_with(extra: impl FnOnce(&std::path::Path) -> String) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("ota-sim-mosq-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("mosquitto.conf");
        let more = extra(&dir);
        std::fs::write(
            &conf,
            format!(
                "per_listener_settings false\nallow_anonymous true\npersistence false\n\
                 set_tcp_nodelay true\nlog_dest stderr\nlog_type error\n\
                 listener {port} 127.0.0.1\n{more}"
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
