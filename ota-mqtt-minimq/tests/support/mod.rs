//! Test support: a Debian mosquitto on a free loopback port, started and stopped by the test.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The mosquitto binary, or a panic that says how to install it.
pub fn mosquitto_bin() -> PathBuf {
    for p in [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    if Command::new("mosquitto")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
    {
        return "mosquitto".into();
    }
    panic!(
        "mosquitto not found: these tests need Debian's MQTT broker. Install it with \
         `apt-get install -y mosquitto` (or run scripts/test-services.sh install)"
    );
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A mosquitto instance of the test's own, on 127.0.0.1, killed on drop.
pub struct Broker {
    pub port: u16,
    dir: PathBuf,
    extra: String,
    child: Option<Child>,
}

impl Broker {
    /// Starts a plain-TCP broker on a free port.
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// Starts a broker with extra listener configuration lines (TLS settings).
    pub fn start_with(extra: &str) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("ota-mqtt-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("broker dir");
        let mut b = Self {
            port,
            dir,
            extra: extra.to_string(),
            child: None,
        };
        b.spawn();
        b
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn spawn(&mut self) {
        let conf = self.dir.join("mosquitto.conf");
        let text = format!(
            "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             set_tcp_nodelay true\nlog_dest stderr\nlog_type error\n{}\n",
            self.port, self.extra
        );
        std::fs::write(&conf, text).expect("write mosquitto.conf");
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(self.addr()).is_err() {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!("mosquitto exited at start: {st}");
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the broker (the connections drop at once).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
