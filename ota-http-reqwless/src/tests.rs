//! Unit tests over a scripted in-memory TCP stack: call order at the [`RangeLink`] seam
//! (mocked with mockall) and how transport and HTTP outcomes map to agent inputs.

use super::*;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use embedded_io_async::{ErrorKind, ErrorType};
use embedded_nal_async::AddrType;
use futures_executor::block_on;
use mockall::Sequence;
use ota_core::codec::http::ContentRange;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::string::{String, ToString};
use std::vec::Vec;

/// One scripted connection: each complete request written releases the next canned answer;
/// with no answer left, reads see end of stream.
struct FakeConn {
    answers: VecDeque<Vec<u8>>,
    out: Vec<u8>,
    pending: Vec<u8>,
    requests: Rc<RefCell<Vec<String>>>,
    /// The server accepted the request and never answers.
    stall: bool,
}

impl ErrorType for FakeConn {
    type Error = ErrorKind;
}

impl embedded_io_async::Read for FakeConn {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if self.out.is_empty() && self.stall {
            core::future::pending::<()>().await;
        }
        let n = buf.len().min(self.out.len());
        buf[..n].copy_from_slice(&self.out[..n]);
        self.out.drain(..n);
        Ok(n)
    }
}

impl embedded_io_async::Write for FakeConn {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let req: Vec<u8> = self.pending.drain(..end + 4).collect();
            self.requests
                .borrow_mut()
                .push(String::from_utf8_lossy(&req).into_owned());
            match self.answers.pop_front() {
                Some(a) if a == STALL => self.stall = true,
                Some(a) => self.out.extend_from_slice(&a),
                None => {}
            }
        }
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

/// The stack: each connect takes the next scripted connection (`None` = refused).
#[derive(Default)]
struct Stack {
    conns: RefCell<VecDeque<Option<Vec<Vec<u8>>>>>,
    connects: Cell<u32>,
    requests: Rc<RefCell<Vec<String>>>,
}

impl Stack {
    fn new(conns: Vec<Option<Vec<&[u8]>>>) -> Self {
        let s = Self::default();
        *s.conns.borrow_mut() = conns
            .into_iter()
            .map(|c| c.map(|a| a.into_iter().map(<[u8]>::to_vec).collect()))
            .collect();
        s
    }
}

impl TcpConnect for Stack {
    type Error = ErrorKind;
    type Connection<'a> = FakeConn;

    async fn connect(&self, _: SocketAddr) -> Result<FakeConn, ErrorKind> {
        self.connects.set(self.connects.get() + 1);
        match self.conns.borrow_mut().pop_front().flatten() {
            Some(answers) => Ok(FakeConn {
                answers: answers.into(),
                out: Vec::new(),
                pending: Vec::new(),
                requests: self.requests.clone(),
                stall: false,
            }),
            None => Err(ErrorKind::ConnectionRefused),
        }
    }
}

impl Dns for Stack {
    type Error = ErrorKind;

    async fn get_host_by_name(&self, host: &str, _: AddrType) -> Result<IpAddr, ErrorKind> {
        if host.ends_with(".invalid") {
            Err(ErrorKind::NotFound)
        } else {
            Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
        }
    }

    async fn get_host_by_address(&self, _: IpAddr, _: &mut [u8]) -> Result<usize, ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
}

/// A recording link: hands out `requests`, answers `cancel_on` inputs with `Flow::Cancel`.
#[derive(Default)]
struct Rec {
    requests: VecDeque<(String, u32, u32)>,
    inputs: Vec<String>,
    cancel_on_status: Option<u16>,
}

fn show(input: &Input<'_>) -> String {
    match input {
        Input::HttpResponse {
            status,
            content_range: Some(r),
        } => format!("{status} {}-{}/{:?}", r.first, r.last, r.complete),
        Input::HttpResponse { status, .. } => format!("{status}"),
        Input::HttpBody(b) => format!("body {}", String::from_utf8_lossy(b)),
        Input::HttpDone => "done".to_string(),
        Input::HttpFailed => "failed".to_string(),
        other => format!("{other:?}"),
    }
}

impl RangeLink for Rec {
    async fn next_request(&mut self, url: &mut [u8]) -> Option<RangeRequest> {
        let (u, first, last) = self.requests.pop_front()?;
        url[..u.len()].copy_from_slice(u.as_bytes());
        Some(RangeRequest {
            url_len: u.len(),
            first,
            last,
        })
    }
    async fn input<'i>(&mut self, input: Input<'i>) -> Flow {
        self.inputs.push(show(&input));
        match input {
            Input::HttpResponse { status, .. } if Some(status) == self.cancel_on_status => {
                Flow::Cancel
            }
            _ => Flow::Continue,
        }
    }
    async fn cancelled(&mut self) {
        core::future::pending::<()>().await
    }
}

fn run(stack: &Stack, link: &mut impl RangeLink) -> HttpStats {
    let (mut url, mut header, mut chunk) = ([0u8; URL_CAPACITY], [0u8; 1024], [0u8; 4]);
    let buffers = HttpBuffers {
        url: &mut url,
        header: &mut header,
        chunk: &mut chunk,
    };
    let mut runner = HttpRunner::new(stack, stack, buffers);
    block_on(runner.run(link));
    runner.stats()
}

fn rec(reqs: &[(&str, u32, u32)]) -> Rec {
    Rec {
        requests: reqs
            .iter()
            .map(|(u, a, b)| (u.to_string(), *a, *b))
            .collect(),
        ..Rec::default()
    }
}

/// A scripted answer that never comes.
const STALL: &[u8] = b"(stall)";
const R206: &[u8] = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/20\r\nContent-Length: 10\r\n\r\n0123456789";
const R206B: &[u8] = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-19/20\r\nContent-Length: 10\r\n\r\nabcdefghij";

#[test]
fn inputs_reach_the_seam_in_order_and_the_request_carries_the_range() {
    let stack = Stack::new(vec![Some(vec![R206])]);
    let mut link = MockRangeLink::new();
    let mut seq = Sequence::new();
    link.expect_next_request()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|url| {
            let u = b"http://files.example:8080/fw.bin?X-Amz-Signature=ab%2Fc";
            url[..u.len()].copy_from_slice(u);
            Some(RangeRequest {
                url_len: u.len(),
                first: 0,
                last: 9,
            })
        });
    link.expect_input()
        .withf(|i| {
            *i == Input::HttpResponse {
                status: 206,
                content_range: Some(ContentRange {
                    first: 0,
                    last: 9,
                    complete: Some(20),
                }),
            }
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Flow::Continue);
    for part in [&b"0123"[..], b"4567", b"89"] {
        link.expect_input()
            .withf(move |i| *i == Input::HttpBody(part))
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Flow::Continue);
    }
    link.expect_input()
        .withf(|i| *i == Input::HttpDone)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Flow::Continue);
    link.expect_next_request()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| None);
    link.expect_cancelled().returning(|| ());
    let stats = run(&stack, &mut link);
    assert_eq!(stats.requests, 1);
    let req = stack.requests.borrow()[0].clone();
    assert!(
        req.starts_with("GET /fw.bin?X-Amz-Signature=ab%2Fc HTTP/1.1\r\n"),
        "{req}"
    );
    assert!(req.contains("Range: bytes=0-9\r\n"), "{req}");
    assert!(req.contains("Host: files.example\r\n"), "{req}");
}

#[test]
fn a_short_body_is_a_transport_failure() {
    let short: &[u8] = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/20\r\nContent-Length: 10\r\n\r\n012345";
    let stack = Stack::new(vec![Some(vec![short])]);
    let mut link = rec(&[("http://h/f", 0, 9)]);
    let stats = run(&stack, &mut link);
    assert_eq!(
        link.inputs,
        ["206 0-9/Some(20)", "body 0123", "body 45", "failed"]
    );
    assert_eq!(stats.failures, 1);
}

#[test]
fn statuses_reach_the_agent_as_they_are() {
    let redirect: &[u8] =
        b"HTTP/1.1 302 Found\r\nLocation: http://elsewhere/\r\nContent-Length: 0\r\n\r\n";
    let unsatisfiable: &[u8] =
        b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */20\r\nContent-Length: 0\r\n\r\n";
    let forbidden: &[u8] = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\n<Expired>";
    let whole: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nxyz";
    let stack = Stack::new(vec![Some(vec![redirect, unsatisfiable, forbidden, whole])]);
    let mut link = rec(&[("http://h/f", 0, 9); 4]);
    let stats = run(&stack, &mut link);
    assert_eq!(
        link.inputs,
        [
            "302",
            "done",
            "416",
            "done",
            "403",
            "body <Exp",
            "body ired",
            "body >",
            "done",
            "200",
            "body xyz",
            "done"
        ]
    );
    assert_eq!(
        (stats.connects, stats.requests),
        (1, 4),
        "one kept-alive connection"
    );
}

#[test]
fn dns_and_connect_failures_and_bad_urls_are_transport_failures() {
    let stack = Stack::new(vec![None]);
    let mut link = rec(&[
        ("http://nx.invalid/f", 0, 9),
        ("http://h/f", 0, 9),
        ("gopher://h/f", 0, 9),
        ("http://h/a b", 0, 9),
    ]);
    let stats = run(&stack, &mut link);
    assert_eq!(link.inputs, ["failed", "failed", "failed", "failed"]);
    assert_eq!(stats.failures, 4);
    assert_eq!(
        stack.connects.get(),
        1,
        "DNS failed before the first connect"
    );
}

#[cfg(not(feature = "tls"))]
#[test]
fn https_without_the_tls_feature_fails_cleanly() {
    let stack = Stack::new(vec![]);
    let mut link = rec(&[("https://h/f", 0, 9)]);
    run(&stack, &mut link);
    assert_eq!(link.inputs, ["failed"]);
    assert_eq!(stack.connects.get(), 0);
}

#[test]
fn a_kept_alive_connection_closed_by_the_server_is_replaced_and_the_request_retried() {
    // The first connection answers once, then the server has closed it.
    let stack = Stack::new(vec![Some(vec![R206]), Some(vec![R206B])]);
    let mut link = rec(&[("http://h/f", 0, 9), ("http://h/f", 10, 19)]);
    let stats = run(&stack, &mut link);
    assert_eq!(
        link.inputs,
        [
            "206 0-9/Some(20)",
            "body 0123",
            "body 4567",
            "body 89",
            "done",
            "206 10-19/Some(20)",
            "body abcd",
            "body efgh",
            "body ij",
            "done"
        ]
    );
    assert_eq!(
        (stats.connects, stats.stale_retries, stats.failures),
        (2, 1, 0)
    );
    // A fresh connection that fails at once is a failure, not another retry.
    let stack = Stack::new(vec![Some(vec![])]);
    let mut link = rec(&[("http://h/f", 0, 9)]);
    let stats = run(&stack, &mut link);
    assert_eq!(link.inputs, ["failed"]);
    assert_eq!((stats.connects, stats.stale_retries), (1, 0));
}

#[test]
fn connection_close_and_a_new_origin_open_a_new_connection() {
    let closing: &[u8] = b"HTTP/1.1 206 Partial Content\r\nConnection: close\r\nContent-Range: bytes 0-9/20\r\nContent-Length: 10\r\n\r\n0123456789";
    let stack = Stack::new(vec![
        Some(vec![closing]),
        Some(vec![R206B]),
        Some(vec![R206]),
    ]);
    let mut link = rec(&[
        ("http://h/f", 0, 9),
        ("http://h/f", 10, 19),
        ("http://other:81/f", 0, 9),
    ]);
    let stats = run(&stack, &mut link);
    assert_eq!(
        (stats.connects, stats.requests, stats.stale_retries),
        (3, 3, 0)
    );
    assert_eq!(link.inputs.iter().filter(|i| *i == "done").count(), 3);
}

#[test]
fn a_cancelled_answer_feeds_nothing_more_and_its_short_body_keeps_the_connection() {
    let forbidden: &[u8] = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\n<Expired>";
    let stack = Stack::new(vec![Some(vec![forbidden, R206])]);
    let mut link = rec(&[("http://h/f", 0, 9), ("http://h/g", 0, 9)]);
    link.cancel_on_status = Some(403);
    let stats = run(&stack, &mut link);
    assert_eq!(
        link.inputs,
        [
            "403",
            "206 0-9/Some(20)",
            "body 0123",
            "body 4567",
            "body 89",
            "done"
        ]
    );
    assert_eq!(stats.connects, 1);
}

#[test]
fn a_cancel_while_the_server_stalls_abandons_the_request() {
    /// Cancels as soon as the runner waits on the network.
    struct Impatient(Rec);
    impl RangeLink for Impatient {
        async fn next_request(&mut self, url: &mut [u8]) -> Option<RangeRequest> {
            self.0.next_request(url).await
        }
        async fn input<'i>(&mut self, input: Input<'i>) -> Flow {
            self.0.input(input).await
        }
        async fn cancelled(&mut self) {}
    }
    // The server never answers; the agent's cancel (its request timer) ends the wait.
    let stack = Stack::new(vec![Some(vec![STALL])]);
    let mut link = Impatient(rec(&[("http://h/f", 0, 9)]));
    let stats = run(&stack, &mut link);
    assert!(link.0.inputs.is_empty(), "{:?}", link.0.inputs);
    assert_eq!(stats.failures, 0);
}
