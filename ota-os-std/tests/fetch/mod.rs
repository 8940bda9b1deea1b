//! What the HTTP backend tests share: a request, one fetch run to its end, the body of an answer.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use ota_os_std::http::{HttpBackend, HttpMsg, HttpRequest};
use tokio::sync::mpsc;

pub fn req(id: u64, url: String, first: u32, last: u32, max_chunk: usize) -> HttpRequest {
    HttpRequest {
        id,
        url,
        first,
        last,
        max_chunk,
    }
}

/// Runs one fetch to the end and returns its messages.
pub async fn fetch_all(b: &dyn HttpBackend, r: HttpRequest) -> Vec<HttpMsg> {
    let (tx, mut rx) = mpsc::channel(8);
    let task = tokio::spawn(b.fetch(r, tx));
    let mut out = Vec::new();
    while let Some(m) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an answer")
    {
        let end = matches!(m, HttpMsg::Done { .. } | HttpMsg::Failed { .. });
        out.push(m);
        if end {
            break;
        }
    }
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the fetch future ends after the answer")
        .unwrap();
    out
}

pub fn body(msgs: &[HttpMsg]) -> Vec<u8> {
    msgs.iter()
        .filter_map(|m| match m {
            HttpMsg::Body { data, .. } => Some(data.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}
