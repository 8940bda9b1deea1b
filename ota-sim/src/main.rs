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
#[command(name = "ota-sim", version, about = "A local AWS IoT OTA stand-in and simulated device")]
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
    let protos: Vec<&str> = protocols.split(',').map(str::trim).collect();
    opts.mqtt = protos.contains(&"mqtt");
    opts.http = protos.contains(&"http");
    if !opts.mqtt && !opts.http || protos.iter().any(|p| *p != "mqtt" && *p != "http") {
        return Err(format!("--protocols {protocols:?}: use mqtt, http or mqtt,http"));
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
            let pem = std::fs::read_to_string(&key).map_err(|e| format!("{}: {e}", key.display()))?;
            let k = SigningKey::from_pkcs8_pem(&pem).map_err(|e| format!("{}: {e}", key.display()))?;
            let data = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            println!("{}", k.sign(&data));
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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
