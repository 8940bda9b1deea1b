//! Test support: a Debian nginx on a free loopback port with its own prefix and configuration,
//! and a [`RangeLink`] that drives a real `ota_core::Agent` in the same task, with a RAM file and
//! a scripted Jobs answerer (no broker: the agent's MQTT publishes are answered in place).
#![allow(dead_code, unreachable_pub, missing_docs)]

use ota_core::verify::{P256Verifier, TrustedKey};
use ota_core::{
    Action, Agent, BootInfo, Config, Event, Input, Instant, PlatformImageState, Version,
};
use ota_http_reqwless::{Flow, RangeLink, RangeRequest};
use p256::ecdsa::{SigningKey, signature::Signer};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const THING: &str = "dev1";
pub const BS: u32 = 1024;

pub fn nginx_bin() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    if Command::new("nginx")
        .arg("-v")
        .stderr(Stdio::null())
        .status()
        .is_ok()
    {
        return "nginx".into();
    }
    panic!(
        "nginx not found: these tests need Debian's nginx. Install it with \
         `apt-get install -y nginx-light` (or run scripts/test-services.sh install)"
    );
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// An nginx of the test's own: `www/` is the document root; `/norange/` ignores `Range`
/// (`max_ranges 0`). The access log records the connection number of every request.
pub struct Nginx {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Nginx {
    pub fn start(name: &str, files: &[(&str, &[u8])]) -> Self {
        Self::start_with(name, files, "")
    }

    /// `listen_extra` goes after the port on the `listen` line (`ssl`), `server_extra` inside
    /// the server block.
    pub fn start_with(name: &str, files: &[(&str, &[u8])], server_extra: &str) -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("ota-http-{name}-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["www", "tmp", "logs"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for (path, data) in files {
            let p = dir.join("www").join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
        let d = dir.display();
        let ssl = if server_extra.contains("ssl_certificate") {
            " ssl"
        } else {
            ""
        };
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
               log_format ota '$connection $connection_requests $status \"$http_range\" $uri';\n\
               access_log {d}/logs/access.log ota;\n\
               client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy;\n\
               fastcgi_temp_path {d}/tmp/fcgi; uwsgi_temp_path {d}/tmp/uwsgi; scgi_temp_path {d}/tmp/scgi;\n\
               keepalive_timeout 60s; keepalive_requests 1000;\n\
               server {{\n\
                 listen 127.0.0.1:{port}{ssl};\n\
                 root {d}/www;\n\
                 location /norange/ {{ max_ranges 0; }}\n\
                 {server_extra}\n\
               }}\n\
             }}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new(nginx_bin())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("logs/error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let mut me = Self {
            port,
            dir,
            child: Some(child),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(Ok(Some(st))) = me.child.as_mut().map(|c| c.try_wait()) {
                let log =
                    std::fs::read_to_string(me.dir.join("logs/error.log")).unwrap_or_default();
                panic!("nginx exited at start: {st}\n{log}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nginx did not listen in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        me
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    pub fn www(&self, path: &str) -> PathBuf {
        self.dir.join("www").join(path)
    }

    /// The access log once it has at least `n` lines (nginx logs a request just after it
    /// has sent the answer), or as it is after 5 s.
    pub fn access_log_wait(&self, n: usize) -> Vec<(u64, u16, String, String)> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.access_log();
            if log.len() >= n || std::time::Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Access-log lines: (connection, status, range, uri).
    pub fn access_log(&self) -> Vec<(u64, u16, String, String)> {
        std::fs::read_to_string(self.dir.join("logs/access.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (
                    f[0].parse().unwrap(),
                    f[2].parse().unwrap(),
                    f[3].trim_matches('"').to_string(),
                    f[4].to_string(),
                )
            })
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGQUIT: graceful; the master takes its worker down with it.
            let _ = Command::new("kill")
                .arg("-QUIT")
                .arg(c.id().to_string())
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while c.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn image(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761) as u8 ^ (i >> 8) as u8)
        .collect()
}

pub fn signing_key() -> SigningKey {
    SigningKey::from_slice(&[0x42; 32]).unwrap()
}

pub fn sign_b64(data: &[u8]) -> String {
    let sig: p256::ecdsa::Signature = signing_key().sign(data);
    let der = sig.to_der();
    let mut out = [0u8; 200];
    let n = ota_core::codec::base64::encode(der.as_bytes(), &mut out).unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

/// Drives a real agent for an HTTP download, in the runner's task.
pub struct AgentLink {
    pub agent: Agent<'static, P256Verifier<'static>>,
    pub now: u64,
    pub file: Vec<u8>,
    /// The URL the scripted Jobs answer carries (the test may change it: a "refresh").
    pub url: String,
    pub size: usize,
    pub sig: String,
    pub next: Option<(String, u32, u32)>,
    pub cancelled: bool,
    pub done: bool,
    pub failed: Option<String>,
    /// Every HTTP input fed, as text (`206 0-16383/..`, `body 1024`, `done`, `failed`).
    pub inputs: Vec<String>,
    pub requests: Vec<(String, u32, u32)>,
    pub job_requests: u32,
    /// Called before each request is handed to the runner (its index), to script the server.
    pub on_request: Option<Box<dyn FnMut(usize)>>,
    /// The URL the Jobs answers carry once a 403 was seen (the cloud's fresh presigned URL).
    pub refresh: Option<String>,
}

fn leak<const N: usize>() -> &'static mut [u8] {
    Box::leak(Box::new([0u8; N]))
}

impl AgentLink {
    pub fn new(url: String, img: &[u8]) -> Self {
        let keys: &'static [TrustedKey<'static>] = Box::leak(Box::new([TrustedKey {
            name: None,
            key: *signing_key().verifying_key(),
        }]));
        let mut cfg = Config::new(THING, Version::new(1, 0, 0));
        cfg.block_size = BS;
        cfg.http_blocks_per_request = 16;
        cfg.status_every = 1000;
        let buffers = ota_core::Buffers {
            block: leak::<4096>(),
            job: leak::<8192>(),
            bitmap: leak::<128>(),
            url: leak::<2048>(),
        };
        let mut agent = Agent::new(cfg, buffers, P256Verifier::new(keys)).unwrap();
        let boot = BootInfo {
            platform_state: PlatformImageState::Valid,
            resume: None,
        };
        agent.handle(Instant::ZERO, Input::Start(boot)).unwrap();
        let mut me = Self {
            agent,
            now: 0,
            file: Vec::new(),
            url,
            size: img.len(),
            sig: sign_b64(img),
            next: None,
            cancelled: false,
            done: false,
            failed: None,
            inputs: Vec::new(),
            requests: Vec::new(),
            job_requests: 0,
            on_request: None,
            refresh: None,
        };
        me.drain();
        me
    }

    fn t(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    fn job_answer(size: usize, sig: &str, url: &str, token: &serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "clientToken": token, "timestamp": 1,
            "execution": {
                "jobId": "job1", "status": "QUEUED", "queuedAt": 1, "lastUpdatedAt": 1,
                "versionNumber": 1, "executionNumber": 1,
                "jobDocument": {"afr_ota": {"protocols": ["HTTP"], "files": [{
                    "filepath": "/fw", "filesize": size, "fileid": 0, "fileType": 0,
                    "sig-sha256-ecdsa": sig, "update_data_url": url,
                    "auth_scheme": "aws.s3.presigned"}]}}
            }
        }))
        .unwrap()
    }

    /// Drains the agent: platform actions on the RAM file, MQTT publishes answered in place.
    pub fn drain(&mut self) {
        let mut follow: Vec<(String, Vec<u8>)> = Vec::new();
        loop {
            let now = self.t();
            let Some(a) = self.agent.poll() else {
                match follow.pop() {
                    Some((topic, payload)) => {
                        self.agent
                            .handle(
                                now,
                                Input::Message {
                                    topic: &topic,
                                    payload: &payload,
                                },
                            )
                            .unwrap();
                        continue;
                    }
                    None => return,
                }
            };
            let mut read = None;
            let mut done = false;
            match a {
                Action::Publish { topic, payload, .. } => {
                    let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
                    if topic.ends_with("$next/get") {
                        self.job_requests += 1;
                        let body =
                            Self::job_answer(self.size, &self.sig, &self.url, &v["clientToken"]);
                        follow.push((format!("{topic}/accepted"), body));
                    } else if topic.ends_with("/update") {
                        let body =
                            serde_json::json!({"clientToken": v["clientToken"], "timestamp": 1});
                        follow.push((
                            format!("{topic}/accepted"),
                            serde_json::to_vec(&body).unwrap(),
                        ));
                    }
                }
                Action::HttpGet { url, first, last } => {
                    self.next = Some((url.to_string(), first, last));
                }
                Action::HttpCancel => {
                    self.cancelled = true;
                    self.next = None;
                }
                Action::FileCreate(f) => {
                    self.file = vec![0xff; f.size as usize];
                    done = true;
                }
                Action::FileWrite { offset, data } => {
                    self.file[offset as usize..offset as usize + data.len()].copy_from_slice(data);
                    done = true;
                }
                Action::FileRead { offset, len } => read = Some((offset as usize, len as usize)),
                Action::FileClose | Action::SetImageState(_) => done = true,
                Action::Notify(Event::ReadyToActivate { .. }) => self.done = true,
                Action::Notify(Event::Failed { reason, .. }) => {
                    self.failed = Some(reason.to_string())
                }
                _ => {}
            }
            if done {
                self.agent.handle(now, Input::PlatformDone(Ok(()))).unwrap();
            }
            if let Some((o, l)) = read {
                let d = self.file[o..o + l].to_vec();
                self.agent.handle(now, Input::FileData(Ok(&d))).unwrap();
            }
        }
    }
}

impl RangeLink for AgentLink {
    async fn next_request(&mut self, url: &mut [u8]) -> Option<RangeRequest> {
        loop {
            if self.done || self.failed.is_some() {
                return None;
            }
            if let Some((u, first, last)) = self.next.take() {
                self.cancelled = false;
                let i = self.requests.len();
                self.requests.push((u.clone(), first, last));
                if let Some(f) = self.on_request.as_mut() {
                    f(i);
                }
                url[..u.len()].copy_from_slice(u.as_bytes());
                return Some(RangeRequest {
                    url_len: u.len(),
                    first,
                    last,
                });
            }
            // Nothing to do: jump to the agent's next deadline (virtual time).
            let at = self
                .agent
                .poll_timeout()
                .expect("the agent waits for something");
            self.now = self.now.max(at.as_millis());
            self.agent.handle_timeout(self.t());
            self.drain();
        }
    }

    async fn input<'i>(&mut self, input: Input<'i>) -> Flow {
        if self.cancelled {
            return Flow::Cancel;
        }
        if let Input::HttpResponse { status: 403, .. } = input
            && let Some(u) = self.refresh.take()
        {
            self.url = u;
        }
        self.inputs.push(match input {
            Input::HttpResponse {
                status,
                content_range,
            } => match content_range {
                Some(r) => format!("{status} {}-{}/{:?}", r.first, r.last, r.complete),
                None => format!("{status}"),
            },
            Input::HttpBody(b) => format!("body {}", b.len()),
            Input::HttpDone => "done".into(),
            Input::HttpFailed => "failed".into(),
            other => panic!("not an HTTP input: {other:?}"),
        });
        self.now += 1;
        self.agent
            .handle(self.t(), input)
            .expect("the agent accepts the input");
        self.drain();
        if self.cancelled {
            Flow::Cancel
        } else {
            Flow::Continue
        }
    }

    async fn cancelled(&mut self) {
        if !self.cancelled {
            std::future::pending::<()>().await;
        }
    }
}
