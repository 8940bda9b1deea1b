//! `ota-sim serve`: the endpoint and the AWS side as a server, with an admin API.
//!
//! Admin API (JSON over HTTP on `--admin`):
//! - `POST /jobs` `{"job_id", "targets": [..], "image_b64", "protocols": ["MQTT"|"HTTP"],
//!   "signature": {"key_pem": ..} | {"raw": ..} | "none", "certfile"?, "presign_expiry_s"?}`
//! - `GET /jobs/{job_id}/things/{thing}`: `{"status", "history": [{"version", "status",
//!   "status_details"}]}`
//! - `POST /jobs/{job_id}/cancel?force=true|false`
//! - `POST /things/{thing}/kick`: disconnects the thing's MQTT client (embedded endpoint only).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use ota_cloud::{Protocol, SigningKey};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::broker::Broker;
use crate::cloud::{self, JobSpec, SharedCloud, Signature};

/// `ota-sim serve` options.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Embedded MQTT endpoint address (ignored with `broker`).
    pub listen: SocketAddr,
    /// An external broker to join as a client instead of the embedded endpoint.
    pub broker: Option<String>,
    /// Data-plane HTTP address.
    pub http: SocketAddr,
    /// `HOST` or `HOST:PORT` written into presigned URLs when devices reach the HTTP server
    /// under another address than the one bound (`None`: the bound address).
    pub http_public: Option<String>,
    /// Admin API address.
    pub admin: SocketAddr,
    /// Where `endpoints.json` and job images are written.
    pub data: PathBuf,
}

#[derive(Clone)]
struct App {
    cloud: SharedCloud,
    kick: mpsc::UnboundedSender<()>,
    broker: Option<Arc<Broker>>,
    data: PathBuf,
}

type Reply = (StatusCode, Json<Value>);

fn bad(msg: impl std::fmt::Display) -> Reply {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": msg.to_string()})),
    )
}

async fn create(State(app): State<App>, Json(req): Json<Value>) -> Reply {
    let s = |k: &str| req.get(k).and_then(Value::as_str).map(str::to_string);
    let Some(job_id) = s("job_id") else {
        return bad("job_id missing");
    };
    let targets: Vec<String> = req
        .get("targets")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if targets.is_empty() {
        return bad("targets missing");
    }
    let Some(image) =
        s("image_b64").and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
    else {
        return bad("image_b64 missing or not base64");
    };
    let mut protocols = Vec::new();
    for p in req
        .get("protocols")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match p.as_str() {
            Some("MQTT") => protocols.push(Protocol::Mqtt),
            Some("HTTP") => protocols.push(Protocol::Http),
            other => return bad(format!("unknown protocol {other:?}")),
        }
    }
    if protocols.is_empty() {
        protocols.push(Protocol::Mqtt);
    }
    let sig = req.get("signature");
    let signature = if let Some(pem) = sig.and_then(|v| v.get("key_pem")).and_then(Value::as_str) {
        match SigningKey::from_pkcs8_pem(pem) {
            Ok(k) => Signature::Key(k),
            Err(e) => return bad(e),
        }
    } else if let Some(raw) = sig.and_then(|v| v.get("raw")).and_then(Value::as_str) {
        Signature::Raw(raw.to_string())
    } else {
        Signature::None
    };
    let _ = std::fs::write(app.data.join(format!("{job_id}.bin")), &image);
    let spec = JobSpec {
        job_id,
        targets,
        image,
        protocols,
        signature,
        certfile: s("certfile"),
        presign_expiry_s: req.get("presign_expiry_s").and_then(Value::as_u64),
    };
    let r = cloud::create_job(&mut cloud::lock(&app.cloud), &spec);
    let _ = app.kick.send(());
    match r {
        Ok(()) => (StatusCode::OK, Json(json!({"job_id": spec.job_id}))),
        Err(e) => bad(e),
    }
}

async fn status(State(app): State<App>, Path((job, thing)): Path<(String, String)>) -> Reply {
    let c = cloud::lock(&app.cloud);
    let Some(e) = c.execution(&thing, &job) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such execution"})),
        );
    };
    let history: Vec<Value> = e
        .history
        .iter()
        .map(|r| json!({"version": r.version_number, "status": r.status.as_str(), "status_details": r.status_details}))
        .collect();
    (
        StatusCode::OK,
        Json(
            json!({"job_id": job, "thing": thing, "status": e.status.as_str(), "status_details": e.status_details, "history": history}),
        ),
    )
}

#[derive(serde::Deserialize)]
struct CancelQuery {
    force: Option<bool>,
}

async fn cancel(
    State(app): State<App>,
    Path(job): Path<String>,
    Query(q): Query<CancelQuery>,
) -> Reply {
    let r = cloud::lock(&app.cloud).cancel_job(cloud::now_ms(), &job, q.force.unwrap_or(false));
    let _ = app.kick.send(());
    match r {
        Ok(n) => (StatusCode::OK, Json(json!({"canceled": n}))),
        Err(e) => bad(e),
    }
}

async fn kick(State(app): State<App>, Path(thing): Path<String>) -> Reply {
    match &app.broker {
        Some(b) => (StatusCode::OK, Json(json!({"kicked": b.kick(&thing)}))),
        None => bad("kick needs the embedded endpoint"),
    }
}

/// The admin API router.
pub fn admin_router(
    cloud: SharedCloud,
    kick_tx: mpsc::UnboundedSender<()>,
    broker: Option<Arc<Broker>>,
    data: PathBuf,
) -> Router {
    Router::new()
        .route("/jobs", post(create))
        .route("/jobs/{job}/things/{thing}", get(status))
        .route("/jobs/{job}/cancel", post(cancel))
        .route("/things/{thing}/kick", post(kick))
        .with_state(App {
            cloud,
            kick: kick_tx,
            broker,
            data,
        })
}

/// Runs the server until the process ends. Writes `endpoints.json` (`mqtt`, `http`, `admin`)
/// into the data directory once everything listens.
///
/// # Errors
/// Bind and file errors.
pub async fn run(opts: &ServeOptions) -> Result<(), String> {
    std::fs::create_dir_all(&opts.data).map_err(|e| format!("{}: {e}", opts.data.display()))?;
    let (broker, host, port) = match &opts.broker {
        Some(url) => {
            let (h, p) = cloud::parse_mqtt_url(url)?;
            (None, h, p)
        }
        None => {
            let b = Broker::start(opts.listen)
                .await
                .map_err(|e| format!("{}: {e}", opts.listen))?;
            let a = b.addr();
            (Some(Arc::new(b)), a.ip().to_string(), a.port())
        }
    };
    let http = tokio::net::TcpListener::bind(opts.http)
        .await
        .map_err(|e| format!("{}: {e}", opts.http))?;
    let http_addr = http.local_addr().map_err(|e| e.to_string())?;
    let admin = tokio::net::TcpListener::bind(opts.admin)
        .await
        .map_err(|e| format!("{}: {e}", opts.admin))?;
    let admin_addr = admin.local_addr().map_err(|e| e.to_string())?;
    let cloud = cloud::new_cloud(Some(http_addr), rand::random());
    let url_host = match &opts.http_public {
        Some(h) if h.contains(':') && !h.starts_with('[') || h.contains("]:") => h.clone(),
        Some(h) => format!("{h}:{}", http_addr.port()),
        None => {
            if http_addr.ip().is_unspecified() {
                eprintln!(
                    "ota-sim serve: presigned URLs name {http_addr}, which only this machine can \
                     reach; give --http-public HOST for devices elsewhere"
                );
            }
            http_addr.to_string()
        }
    };
    cloud::lock(&cloud).config_mut().http_host = url_host.clone();
    cloud::spawn_http(http, cloud::http_router(cloud.clone()));
    let (kick_tx, kick_rx) = mpsc::unbounded_channel();
    let ready = Arc::new(tokio::sync::Notify::new());
    let counters = Arc::new(cloud::LinkCounters::default());
    tokio::spawn(cloud::run_mqtt(
        host.clone(),
        port,
        cloud.clone(),
        kick_rx,
        counters,
        Some(ready.clone()),
    ));
    cloud::spawn_http(
        admin,
        admin_router(cloud, kick_tx, broker.clone(), opts.data.clone()),
    );
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), ready.notified()).await;
    let endpoints = json!({
        "mqtt": format!("mqtt://{host}:{port}"),
        "http": format!("http://{url_host}"),
        "admin": format!("http://{admin_addr}"),
    });
    let path = opts.data.join("endpoints.json");
    let tmp = opts.data.join("endpoints.json.tmp");
    std::fs::write(&tmp, endpoints.to_string()).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    println!("{endpoints}");
    std::future::pending::<()>().await;
    Ok(())
}

/// A minimal HTTP/1.1 client for the admin API: `method` `url` with an optional JSON body;
/// returns the status and the JSON answer.
///
/// # Errors
/// Connection errors and non-JSON answers.
pub async fn admin_call(
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("admin URL {url:?} must be http://HOST:PORT/..."))?;
    let (hostport, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = tokio::net::TcpStream::connect(hostport)
        .await
        .map_err(|e| format!("{hostport}: {e}"))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("malformed HTTP answer")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("malformed status line")?;
    let v = serde_json::from_str(body.trim()).unwrap_or(Value::String(body.to_string()));
    Ok((status, v))
}
