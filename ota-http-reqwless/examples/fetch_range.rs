//! Fetches one byte range through [`HttpRunner`] (reqwless over `std-embedded-nal-async`) and
//! prints what the agent would see: the status, the `Content-Range`, the body length and its
//! first bytes.
//!
//! ```sh
//! cargo run -p ota-http-reqwless --example fetch_range -- http://127.0.0.1:8080/fw.bin 0 1023
//! cargo run -p ota-http-reqwless --example fetch_range   # against a throwaway local server
//! ```
//!
//! Exits non-zero when the request fails below HTTP, the status is not 2xx, or a 206 body does
//! not match its `Content-Range`.

use ota_core::Input;
use ota_core::codec::http::ContentRange;
use ota_http_reqwless::{
    Flow, HEADER_BUFFER, HttpBuffers, HttpRunner, RangeLink, RangeRequest, URL_CAPACITY,
};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::ExitCode;

/// A link for one request: hands the range out once, then records what comes back.
struct OneRange {
    url: String,
    range: Option<(u32, u32)>,
    status: Option<u16>,
    content_range: Option<ContentRange>,
    body: Vec<u8>,
    done: bool,
    failed: bool,
}

impl RangeLink for OneRange {
    async fn next_request(&mut self, url: &mut [u8]) -> Option<RangeRequest> {
        let (first, last) = self.range.take()?;
        let dst = url.get_mut(..self.url.len())?;
        dst.copy_from_slice(self.url.as_bytes());
        Some(RangeRequest {
            url_len: self.url.len(),
            first,
            last,
        })
    }

    async fn input<'i>(&mut self, input: Input<'i>) -> Flow {
        match input {
            Input::HttpResponse {
                status,
                content_range,
            } => {
                self.status = Some(status);
                self.content_range = content_range;
            }
            Input::HttpBody(chunk) => self.body.extend_from_slice(chunk),
            Input::HttpDone => self.done = true,
            Input::HttpFailed => self.failed = true,
            _ => {}
        }
        Flow::Continue
    }

    async fn cancelled(&mut self) {
        core::future::pending::<()>().await
    }
}

/// Serves one request on a free loopback port: 206 with the asked range of a 4 KB pattern.
fn local_server() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        let file: Vec<u8> = (0..4096u32).map(|i| (i * 7 + i / 256) as u8).collect();
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream);
        let mut range = None;
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("range: bytes=") {
                range = v
                    .trim()
                    .split_once('-')
                    .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
            }
            line.clear();
        }
        let last_byte = file.len() - 1;
        let response = match range {
            Some((a, b)) if a <= b && a <= last_byte => {
                let b = b.min(last_byte);
                let mut r = format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {a}-{b}/{}\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    file.len(),
                    b - a + 1
                )
                .into_bytes();
                r.extend_from_slice(&file[a..=b]);
                r
            }
            _ => format!(
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n",
                file.len()
            )
            .into_bytes(),
        };
        let mut stream = reader.into_inner();
        let _ = stream.write_all(&response);
    });
    Ok(format!("http://{addr}/fw.bin"))
}

fn usage() -> ExitCode {
    eprintln!("usage: fetch_range [URL FIRST LAST]   (no arguments: a local test server)");
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, first, last) = match args.as_slice() {
        [] => match local_server() {
            Ok(url) => (url, 100, 355),
            Err(e) => {
                eprintln!("cannot start the local server: {e}");
                return ExitCode::FAILURE;
            }
        },
        [url, first, last] => match (first.parse::<u32>(), last.parse::<u32>()) {
            (Ok(f), Ok(l)) if f <= l => (url.clone(), f, l),
            _ => return usage(),
        },
        _ => return usage(),
    };
    if url.len() > URL_CAPACITY {
        eprintln!("URL longer than {URL_CAPACITY} bytes");
        return ExitCode::FAILURE;
    }
    println!("GET {url} Range: bytes={first}-{last}");

    let mut link = OneRange {
        url,
        range: Some((first, last)),
        status: None,
        content_range: None,
        body: Vec::new(),
        done: false,
        failed: false,
    };
    let stack = std_embedded_nal_async::Stack::default();
    let (mut url_buf, mut header, mut chunk) =
        ([0u8; URL_CAPACITY], [0u8; HEADER_BUFFER], [0u8; 4096]);
    let buffers = HttpBuffers {
        url: &mut url_buf,
        header: &mut header,
        chunk: &mut chunk,
    };
    let mut runner = HttpRunner::new(&stack, &stack, buffers);
    runner.run(&mut link).await;

    match link.status {
        Some(s) => println!("status: {s}"),
        None => println!("status: none"),
    }
    match link.content_range {
        Some(ContentRange {
            first,
            last,
            complete,
        }) => {
            let total = complete.map_or("*".to_string(), |c| c.to_string());
            println!("content-range: bytes {first}-{last}/{total}");
        }
        None => println!("content-range: none"),
    }
    let head: String = link
        .body
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("body: {} bytes, first bytes {head}", link.body.len());
    println!("{:?}", runner.stats());

    // A 206 must carry exactly the bytes its Content-Range names.
    let length_ok = match (link.status, link.content_range) {
        (Some(206), Some(cr)) => {
            (u64::from(cr.last) + 1).checked_sub(u64::from(cr.first))
                == Some(link.body.len() as u64)
        }
        (Some(206), None) => false,
        _ => true,
    };
    let ok = !link.failed
        && link.done
        && length_ok
        && link.status.is_some_and(|s| (200..300).contains(&s));
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "failed (transport failure, incomplete body, non-2xx status or a 206 not matching its Content-Range)"
        );
        ExitCode::FAILURE
    }
}
