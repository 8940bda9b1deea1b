//! Debian's mosquitto and nginx, each started as a child process on a free loopback port
//! with a private configuration in a scratch directory, and stopped (by its own pid) on drop.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A scratch directory under the system's temp directory, unique to this process, this call
/// and `name`, created empty.
///
/// # Errors
/// The directory could not be created.
pub fn scratch_dir(name: &str) -> io::Result<PathBuf> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ota-bench-{}-{n}-{name}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A free TCP port on 127.0.0.1 (bound once by the OS, then released).
///
/// # Errors
/// Binding failed.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_listening(port: u16, child: &mut Child, what: &str) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "{what} exited at start: {status}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(io::Error::other(format!(
        "{what} did not listen on {port} within 10 s"
    )))
}

fn program(name: &str) -> String {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p.display().to_string();
        }
    }
    name.to_string()
}

/// A server child process; killed and reaped on drop, its scratch directory removed.
#[derive(Debug)]
pub struct Server {
    child: Child,
    dir: PathBuf,
    /// The loopback port it listens on.
    pub port: u16,
}

impl Server {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the server has used so far, from `/proc/<pid>/stat`;
    /// `None` where that cannot be read.
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time_of(self.child.id())
    }
}

/// CPU time (user + system) of process `pid` from `/proc/<pid>/stat`, at 100 ticks per second
/// (Linux's `USER_HZ`).
pub fn cpu_time_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts Debian's mosquitto on a free port of 127.0.0.1 with `set_tcp_nodelay true` (without
/// it, a burst of blocks ends in a ~40 ms delayed-ACK stall: research/limits.md), no
/// persistence and no limit on queued messages.
///
/// # Errors
/// mosquitto is missing (`apt-get install -y mosquitto`) or did not start.
pub fn mosquitto() -> io::Result<Server> {
    let dir = scratch_dir("mosquitto")?;
    let port = free_port()?;
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             persistence false\n\
             set_tcp_nodelay true\n\
             max_queued_messages 0\n\
             log_dest stderr\n\
             log_type error\n\
             log_type warning\n"
        ),
    )?;
    let mut child = Command::new(program("mosquitto"))
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| io::Error::other(format!("mosquitto: {e} (apt-get install -y mosquitto)")))?;
    wait_listening(port, &mut child, "mosquitto")?;
    Ok(Server { child, dir, port })
}

/// Starts Debian's nginx in the foreground (one process, no master) on a free port of
/// 127.0.0.1, serving `root`: `sendfile on`, `tcp_nodelay on`, `tcp_nopush off` (Debian's
/// `tcp_nopush on` stalls ~0.4 % of 64 KB range answers for 42 ms: research/limits.md),
/// keep-alive for 100,000 requests, no access log.
///
/// # Errors
/// nginx is missing (`apt-get install -y nginx-light`) or did not start.
pub fn nginx(root: &Path) -> io::Result<Server> {
    let dir = scratch_dir("nginx")?;
    let port = free_port()?;
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\n\
             master_process off;\n\
             worker_processes 1;\n\
             pid {dir}/nginx.pid;\n\
             error_log {dir}/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
               access_log off;\n\
               default_type application/octet-stream;\n\
               sendfile on;\n\
               tcp_nopush off;\n\
               tcp_nodelay on;\n\
               keepalive_requests 100000;\n\
               keepalive_timeout 60s;\n\
               server {{\n\
                 listen 127.0.0.1:{port};\n\
                 root {root};\n\
               }}\n\
             }}\n",
            dir = dir.display(),
            root = root.display(),
        ),
    )?;
    let mut child = Command::new(program("nginx"))
        .arg("-p")
        .arg(&dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| io::Error::other(format!("nginx: {e} (apt-get install -y nginx-light)")))?;
    wait_listening(port, &mut child, "nginx")?;
    Ok(Server { child, dir, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_of_this_process_is_readable() {
        // Burn a little CPU so the figure is not trivially zero on a coarse clock.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_time_of(std::process::id()).is_some());
        assert!(cpu_time_of(u32::MAX).is_none());
    }

    #[test]
    fn scratch_dirs_are_fresh_and_distinct() {
        let d = scratch_dir("selftest").unwrap();
        std::fs::write(d.join("f"), b"x").unwrap();
        let d2 = scratch_dir("selftest").unwrap();
        assert_ne!(d, d2);
        assert!(d2.exists() && !d2.join("f").exists());
        std::fs::remove_dir_all(d).unwrap();
        std::fs::remove_dir_all(d2).unwrap();
    }
}
