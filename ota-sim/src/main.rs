//! The `ota-sim` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use ota_cloud::{Protocol, SigningKey};
use ota_core::Version;
use ota_sim::device::{self, DeviceOptions, LogObserver};
use ota_sim::image::{self, Behaviour};

#[derive(Parser)]
#[command(
    name = "ota-sim",
    version,
    about = "A local AWS IoT OTA stand-in and simulated device"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Proto {
    Mqtt,
    Http,
}

#[derive(Subcommand)]
enum Cmd {
    /// A whole update on this machine: embedded endpoint, signed image, device, reboot, accept.
    Demo {
        #[arg(long, value_enum, default_value = "mqtt")]
        protocol: Proto,
        /// Image size in bytes.
        #[arg(long, default_value_t = 1 << 20)]
        size: usize,
        #[arg(long, default_value_t = 32)]
        blocks_per_request: u32,
    },
    /// The std device agent against any broker and cloud side that speaks the AWS protocol.
    Device {
        /// mqtt://HOST:PORT (with --tls-*: mutual TLS to HOST:PORT).
        #[arg(long)]
        broker: String,
        #[arg(long)]
        thing: String,
        /// State directory (the device's flash).
        #[arg(long)]
        state: PathBuf,
        /// P-256 public key (SPKI PEM) or X.509 certificate PEM; NAME=PEM for jobs whose certfile is NAME.
        #[arg(long, required = true)]
        trust: Vec<String>,
        /// Version of the factory image when the state directory is new.
        #[arg(long, default_value = "1.0.0")]
        version: String,
        #[arg(long, default_value_t = 4096)]
        block_size: u32,
        #[arg(long, default_value_t = 32)]
        blocks_per_request: u32,
        /// Blocks per HTTP range request (default: 64 KiB ranges).
        #[arg(long)]
        http_blocks_per_request: Option<u32>,
        /// Data protocols enabled: mqtt, http or mqtt,http.
        #[arg(long, default_value = "mqtt,http")]
        protocols: String,
        #[arg(long, default_value_t = 30)]
        self_test_timeout: u64,
        /// Wait for data before asking again (seconds).
        #[arg(long, default_value_t = 5.0)]
        request_timeout: f64,
        #[arg(long, requires_all = ["tls_cert", "tls_key"])]
        tls_ca: Option<PathBuf>,
        #[arg(long)]
        tls_cert: Option<PathBuf>,
        #[arg(long)]
        tls_key: Option<PathBuf>,
        /// Print statistics every second.
        #[arg(long)]
        verbose: bool,
    },
    /// The endpoint and the AWS side as a server, with an admin API.
    Serve {
        /// Embedded MQTT endpoint address.
        #[arg(long, default_value = "127.0.0.1:1883")]
        listen: std::net::SocketAddr,
        /// Join this MQTT 5 broker as a client instead (mqtt://HOST:PORT).
        #[arg(long)]
        broker: Option<String>,
        /// Presigned-URL HTTP server address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
        /// HOST or HOST:PORT written into presigned URLs (default: the --http address).
        #[arg(long)]
        http_public: Option<String>,
        /// Admin API address.
        #[arg(long, default_value = "127.0.0.1:8081")]
        admin: std::net::SocketAddr,
        /// Data directory (endpoints.json, job images).
        #[arg(long)]
        data: PathBuf,
    },
    /// Jobs on a running `ota-sim serve`.
    Job {
        #[command(subcommand)]
        cmd: JobCmd,
    },
    /// N devices in one process updating from one endpoint: time, messages, peak memory.
    Fleet {
        #[arg(long)]
        devices: usize,
        #[arg(long, default_value_t = 64 * 1024)]
        size: usize,
        #[arg(long, value_enum, default_value = "mqtt")]
        protocol: Proto,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        /// Parent of the devices' state directories (default: /dev/shm when it exists).
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// One JSON object: running_version, running_image_sha256, image_state, boots.
    DeviceStatus {
        #[arg(long)]
        state: PathBuf,
    },
    /// A P-256 code-signing key (PKCS#8 PEM), and its public key (SPKI PEM).
    Keygen {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        public: Option<PathBuf>,
    },
    /// Prints the base64 DER ECDSA P-256/SHA-256 signature of FILE (AWS's sig-sha256-ecdsa).
    Sign {
        #[arg(long)]
        key: PathBuf,
        file: PathBuf,
    },
    /// A board's identity blob (thing name, broker, TLS credentials), flashed once into the
    /// board's identity area so OTA images carry no per-device secret. PEM in, binary out.
    Provision {
        /// AWS IoT thing name (1-128 of `[a-zA-Z0-9:_-]`).
        #[arg(long)]
        thing: String,
        /// Broker `host:port` (AWS IoT Core: `xxxx-ats.iot.REGION.amazonaws.com:8883`).
        #[arg(long)]
        broker: String,
        /// Trust anchor (PEM certificate; AWS IoT Core: AmazonRootCA3.pem). With --cert and --key.
        #[arg(long, requires_all = ["cert", "key"])]
        ca: Option<PathBuf>,
        /// Device certificate (PEM).
        #[arg(long, requires_all = ["ca", "key"])]
        cert: Option<PathBuf>,
        /// Device private key (PEM, P-256, SEC1 or PKCS#8).
        #[arg(long, requires_all = ["ca", "cert"])]
        key: Option<PathBuf>,
        /// Where to write the blob.
        #[arg(long)]
        out: PathBuf,
    },
    /// A simulated firmware image.
    Image {
        #[arg(long)]
        version: String,
        #[arg(long)]
        size: usize,
        #[arg(long, default_value = "ok")]
        behaviour: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum JobCmd {
    /// Creates an OTA job (stream and/or presigned object, signed image).
    Create {
        /// Admin API URL (http://HOST:PORT).
        #[arg(long)]
        admin: String,
        #[arg(long, required = true)]
        thing: Vec<String>,
        #[arg(long)]
        image: PathBuf,
        #[arg(long)]
        job_id: String,
        /// mqtt, http, or both (MQTT preferred).
        #[arg(long, default_value = "mqtt")]
        protocol: String,
        /// Sign with this key (PKCS#8 PEM).
        #[arg(long, conflicts_with_all = ["signature", "unsigned"])]
        key: Option<PathBuf>,
        /// Use this base64 value as the signature.
        #[arg(long, conflicts_with = "unsigned")]
        signature: Option<String>,
        /// No signature at all.
        #[arg(long)]
        unsigned: bool,
        #[arg(long)]
        certfile: Option<String>,
        /// Lifetime of the presigned URL (seconds).
        #[arg(long)]
        presign_expiry: Option<u64>,
    },
    /// Prints the execution's status and history as JSON.
    Status {
        #[arg(long)]
        admin: String,
        #[arg(long)]
        job_id: String,
        #[arg(long)]
        thing: String,
    },
    /// Cancels a job (force: IN_PROGRESS executions too).
    Cancel {
        #[arg(long)]
        admin: String,
        #[arg(long)]
        job_id: String,
        #[arg(long)]
        force: bool,
    },
}

async fn job_cmd(cmd: JobCmd) -> Result<bool, String> {
    use base64::Engine;
    let (admin, method, path, body) = match cmd {
        JobCmd::Create {
            admin,
            thing,
            image,
            job_id,
            protocol,
            key,
            signature,
            unsigned,
            certfile,
            presign_expiry,
        } => {
            let img = std::fs::read(&image).map_err(|e| format!("{}: {e}", image.display()))?;
            let protocols: Vec<&str> = match protocol.as_str() {
                "mqtt" => vec!["MQTT"],
                "http" => vec!["HTTP"],
                "both" => vec!["MQTT", "HTTP"],
                p => return Err(format!("--protocol {p:?}: use mqtt, http or both")),
            };
            let sig = match (key, signature) {
                (Some(k), _) => {
                    serde_json::json!({"key_pem": std::fs::read_to_string(&k).map_err(|e| format!("{}: {e}", k.display()))?})
                }
                (None, Some(s)) => serde_json::json!({"raw": s}),
                (None, None) if unsigned => serde_json::json!("none"),
                (None, None) => return Err("give --key, --signature or --unsigned".into()),
            };
            let body = serde_json::json!({
                "job_id": job_id, "targets": thing, "protocols": protocols, "signature": sig,
                "image_b64": base64::engine::general_purpose::STANDARD.encode(&img),
                "certfile": certfile, "presign_expiry_s": presign_expiry,
            });
            (admin, "POST", "jobs".to_string(), Some(body))
        }
        JobCmd::Status {
            admin,
            job_id,
            thing,
        } => (admin, "GET", format!("jobs/{job_id}/things/{thing}"), None),
        JobCmd::Cancel {
            admin,
            job_id,
            force,
        } => (
            admin,
            "POST",
            format!("jobs/{job_id}/cancel?force={force}"),
            None,
        ),
    };
    let url = format!("{}/{path}", admin.trim_end_matches('/'));
    let (status, v) = ota_sim::serve::admin_call(method, &url, body.as_ref()).await?;
    println!("{v}");
    Ok(status == 200)
}

fn parse_version(s: &str) -> Result<Version, String> {
    Version::parse(s).ok_or_else(|| format!("bad version {s:?} (X.Y.Z)"))
}

async fn device_cmd(cmd: Cmd) -> Result<(), String> {
    let Cmd::Device {
        broker,
        thing,
        state,
        trust,
        version,
        block_size,
        blocks_per_request,
        http_blocks_per_request,
        protocols,
        self_test_timeout,
        request_timeout,
        tls_ca,
        tls_cert,
        tls_key,
        verbose,
    } = cmd
    else {
        return Ok(());
    };
    let (host, port) = ota_sim::cloud::parse_mqtt_url(&broker)?;
    let tls = match (tls_ca, tls_cert, tls_key) {
        (Some(ca), Some(cert), Some(key)) => Some(
            ota_os_std::tls::Tls::new(&ota_os_std::tls::TlsFiles { ca, cert, key }, &host)
                .map_err(|e| e.to_string())?,
        ),
        _ => None,
    };
    let b = ota_os_std::Broker { host, port, tls };
    let mut opts = DeviceOptions::new(thing, b, state);
    opts.trust = trust
        .iter()
        .map(|t| device::load_trust(t))
        .collect::<Result<_, _>>()?;
    opts.factory_version = parse_version(&version)?;
    opts.block_size = block_size;
    opts.blocks_per_request = blocks_per_request;
    opts.http_blocks_per_request = http_blocks_per_request;
    let protos: Vec<&str> = protocols.split(',').map(str::trim).collect();
    opts.mqtt = protos.contains(&"mqtt");
    opts.http = protos.contains(&"http");
    if !opts.mqtt && !opts.http || protos.iter().any(|p| *p != "mqtt" && *p != "http") {
        return Err(format!(
            "--protocols {protocols:?}: use mqtt, http or mqtt,http"
        ));
    }
    opts.self_test_timeout = Duration::from_secs(self_test_timeout);
    opts.request_timeout = Duration::from_secs_f64(request_timeout.max(0.05));
    let mut obs = LogObserver { verbose };
    device::run(&opts, &mut obs).await
}

async fn main_async(cli: Cli) -> Result<bool, String> {
    match cli.cmd {
        Cmd::Demo {
            protocol,
            size,
            blocks_per_request,
        } => {
            let mut o = ota_sim::demo::DemoOptions::default();
            o.protocol = match protocol {
                Proto::Mqtt => Protocol::Mqtt,
                Proto::Http => Protocol::Http,
            };
            o.size = size;
            o.blocks_per_request = blocks_per_request;
            let r = ota_sim::demo::run(&o).await?;
            Ok(r.ok)
        }
        Cmd::Serve {
            listen,
            broker,
            http,
            http_public,
            admin,
            data,
        } => {
            let o = ota_sim::serve::ServeOptions {
                listen,
                broker,
                http,
                http_public,
                admin,
                data,
            };
            ota_sim::serve::run(&o).await.map(|()| true)
        }
        Cmd::Job { cmd } => job_cmd(cmd).await,
        Cmd::Fleet {
            devices,
            size,
            protocol,
            timeout,
            state_dir,
        } => {
            let mut o = ota_sim::fleet::FleetOptions::default();
            o.state_dir = state_dir;
            o.devices = devices;
            o.size = size;
            o.protocol = match protocol {
                Proto::Mqtt => Protocol::Mqtt,
                Proto::Http => Protocol::Http,
            };
            o.timeout = Duration::from_secs(timeout);
            ota_sim::fleet::run(&o).await
        }
        c @ Cmd::Device { .. } => device_cmd(c).await.map(|()| true),
        Cmd::DeviceStatus { state } => {
            let s = device::status(&state)?;
            println!("{}", serde_json::to_string(&s).map_err(|e| e.to_string())?);
            Ok(true)
        }
        Cmd::Keygen { out, public } => {
            let k = SigningKey::generate();
            std::fs::write(&out, k.to_pkcs8_pem().map_err(|e| e.to_string())?)
                .map_err(|e| format!("{}: {e}", out.display()))?;
            if let Some(p) = public {
                std::fs::write(&p, k.public_key_pem().map_err(|e| e.to_string())?)
                    .map_err(|e| format!("{}: {e}", p.display()))?;
            }
            Ok(true)
        }
        Cmd::Sign { key, file } => {
            let pem =
                std::fs::read_to_string(&key).map_err(|e| format!("{}: {e}", key.display()))?;
            let k =
                SigningKey::from_pkcs8_pem(&pem).map_err(|e| format!("{}: {e}", key.display()))?;
            let data = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            println!("{}", k.sign(&data));
            Ok(true)
        }
        Cmd::Provision {
            thing,
            broker,
            ca,
            cert,
            key,
            out,
        } => {
            let blob = provision(&thing, &broker, ca, cert, key)?;
            std::fs::write(&out, &blob).map_err(|e| format!("{}: {e}", out.display()))?;
            println!("{} bytes to {}", blob.len(), out.display());
            Ok(true)
        }
        Cmd::Image {
            version,
            size,
            behaviour,
            out,
        } => {
            let b = Behaviour::parse(&behaviour).ok_or_else(|| {
                format!("--behaviour {behaviour:?}: use ok, crash, no-network or fail-self-test")
            })?;
            let img = image::build(parse_version(&version)?, b, size).map_err(|e| e.to_string())?;
            std::fs::write(&out, img).map_err(|e| format!("{}: {e}", out.display()))?;
            Ok(true)
        }
    }
}

/// The identity blob of `ota_os_embassy::identity`: PEM files checked and turned into DER.
fn provision(
    thing: &str,
    broker: &str,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<Vec<u8>, String> {
    use ota_os_embassy::identity::{Identity, MAX_BLOB, encode};
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let (host, port) = broker
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("--broker {broker:?}: expected host:port"))?;
    let read_cert = |p: &PathBuf| -> Result<Vec<u8>, String> {
        CertificateDer::from_pem_file(p)
            .map(|c| c.to_vec())
            .map_err(|e| format!("{}: not a PEM certificate ({e})", p.display()))
    };
    let (anchor, device_cert, device_key) = match (ca, cert, key) {
        (Some(ca), Some(cert), Some(key)) => {
            let k = PrivateKeyDer::from_pem_file(&key)
                .map_err(|e| format!("{}: not a PEM private key ({e})", key.display()))?;
            let der = k.secret_der().to_vec();
            let (anchor, device) = (read_cert(&ca)?, read_cert(&cert)?);
            // The boards' TLS write buffer is 4 KiB.
            ota_os_embassy::tls::check_credentials(&anchor, &device, &der, 4096)
                .map_err(|e| format!("the boards' TLS would refuse these credentials: {e}"))?;
            (anchor, device, der)
        }
        _ => (Vec::new(), Vec::new(), Vec::new()),
    };
    let id = Identity {
        thing_name: thing,
        host,
        port,
        anchor: &anchor,
        cert: &device_cert,
        key: &device_key,
    };
    let mut out = vec![0u8; MAX_BLOB];
    let n = encode(&id, &mut out).map_err(|e| format!("identity: {e}"))?;
    out.truncate(n);
    Ok(out)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ota-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(main_async(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ota-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
