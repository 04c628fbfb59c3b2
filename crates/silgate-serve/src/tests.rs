//! The accept loop against real loopback sockets (plain HTTP: the limits do not
//! depend on TLS, which the push API's and the node's integration tests cover).

use super::*;
use axum::routing::get;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

fn limits() -> ConnLimits {
    ConnLimits { total: 8, per_ip: 2, idle: Duration::from_millis(600), lifetime: Duration::from_secs(30), body: Duration::from_secs(30), grace: Duration::from_secs(2) }
}

/// A server on a free loopback port, on its own runtime thread; the sender stops it.
fn start(limits: ConnLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            addr_tx.send(listener.local_addr().expect("addr")).expect("addr sent");
            let routes = |peer: Peer| {
                Router::new()
                    .route("/who", get(move || async move { peer.addr.ip().to_string() }))
                    // Echoes the body's length, or says why it could not be read.
                    .route("/body", axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }))
                    // An answer larger than any socket buffer, for a client that does not read.
                    .route("/big", get(|| async { vec![b'x'; 64 << 20] }))
            };
            serve(listener, None, limits, routes, async move {
                let _ = stop_rx.await;
            })
            .await;
        });
    });
    (addr_rx.recv().expect("server address"), stop_tx, thread)
}

fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    // std has no bind-before-connect: tokio's socket chooses the source address.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let tcp = rt
        .block_on(async {
            let s = tokio::net::TcpSocket::new_v4()?;
            s.bind(SocketAddr::from((from, 0)))?;
            s.connect(to).await
        })
        .expect("connect");
    let tcp = tcp.into_std().expect("std stream");
    tcp.set_nonblocking(false).expect("blocking");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    tcp
}

/// Sends one kept-alive request and reads its answer's body.
fn ask(tcp: &mut TcpStream) -> std::io::Result<String> {
    tcp.write_all(b"GET /who HTTP/1.1\r\nhost: x\r\n\r\n")?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tcp.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let len: usize = text[..head_end].lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap_or(0))).unwrap_or(0);
            if text.len() >= head_end + 4 + len {
                return Ok(text[head_end + 4..head_end + 4 + len].to_string());
            }
        }
    }
}

/// True when the server closed the connection (EOF or reset) within `within`.
fn closed_by_server(tcp: &mut TcpStream, within: Duration) -> bool {
    tcp.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 64];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn one_address_past_its_share_is_closed_and_another_address_is_served() {
    let (addr, stop, thread) = start(limits());
    let mut a1 = connect_from([127, 0, 0, 2], addr);
    let mut a2 = connect_from([127, 0, 0, 2], addr);
    assert_eq!(ask(&mut a1).expect("first"), "127.0.0.2");
    assert_eq!(ask(&mut a2).expect("second"), "127.0.0.2");
    let mut a3 = connect_from([127, 0, 0, 2], addr);
    assert!(closed_by_server(&mut a3, Duration::from_secs(5)), "a third connection from one address is closed");
    let mut b = connect_from([127, 0, 0, 3], addr);
    assert_eq!(ask(&mut b).expect("other address"), "127.0.0.3");
    // A slot given back is free again.
    drop(a1);
    std::thread::sleep(Duration::from_millis(200));
    let mut a4 = connect_from([127, 0, 0, 2], addr);
    assert_eq!(ask(&mut a4).expect("after a slot came back"), "127.0.0.2");
    stop.send(()).expect("stop");
    thread.join().expect("server thread");
}

#[test]
fn a_silent_connection_is_closed_after_the_idle_time_and_a_kept_alive_one_between_requests() {
    let (addr, stop, thread) = start(limits());
    let started = Instant::now();
    let mut silent = connect_from([127, 0, 0, 4], addr);
    assert!(closed_by_server(&mut silent, Duration::from_secs(5)), "a connection that sends nothing is closed");
    assert!(started.elapsed() < Duration::from_secs(4), "closed after {:?}", started.elapsed());
    let mut kept = connect_from([127, 0, 0, 4], addr);
    assert_eq!(ask(&mut kept).expect("request"), "127.0.0.4");
    assert!(closed_by_server(&mut kept, Duration::from_secs(5)), "an idle kept-alive connection is closed");
    stop.send(()).expect("stop");
    thread.join().expect("server thread");
}

#[test]
fn a_connection_is_asked_to_close_at_its_lifetime() {
    let (addr, stop, thread) = start(ConnLimits { lifetime: Duration::from_millis(400), idle: Duration::from_secs(20), ..limits() });
    let mut c = connect_from([127, 0, 0, 5], addr);
    assert_eq!(ask(&mut c).expect("request"), "127.0.0.5");
    assert!(closed_by_server(&mut c, Duration::from_secs(5)), "closed at its lifetime though its idle time is longer");
    stop.send(()).expect("stop");
    thread.join().expect("server thread");
}

#[test]
fn past_the_total_a_connection_waits_for_a_free_slot() {
    let (addr, stop, thread) = start(ConnLimits { total: 2, per_ip: 8, idle: Duration::from_secs(20), ..limits() });
    let mut a = connect_from([127, 0, 0, 6], addr);
    let mut b = connect_from([127, 0, 0, 7], addr);
    assert_eq!(ask(&mut a).expect("a"), "127.0.0.6");
    assert_eq!(ask(&mut b).expect("b"), "127.0.0.7");
    // The third is in the kernel's backlog, not accepted: no answer while both are held.
    let mut c = connect_from([127, 0, 0, 8], addr);
    c.write_all(b"GET /who HTTP/1.1\r\nhost: x\r\n\r\n").expect("write");
    c.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    let mut buf = [0u8; 16];
    assert!(matches!(c.read(&mut buf), Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)), "not served while the slots are held");
    drop(a);
    c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let n = c.read(&mut buf).expect("served once a slot is free");
    assert!(n > 0 && buf.starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&buf[..n]));
    stop.send(()).expect("stop");
    thread.join().expect("server thread");
}

#[test]
fn on_stop_the_server_returns_though_connections_are_open() {
    let (addr, stop, thread) = start(ConnLimits { idle: Duration::from_secs(60), ..limits() });
    let mut held = connect_from([127, 0, 0, 9], addr);
    assert_eq!(ask(&mut held).expect("request"), "127.0.0.9");
    let started = Instant::now();
    stop.send(()).expect("stop");
    thread.join().expect("server thread");
    assert!(started.elapsed() < Duration::from_secs(4), "stopped in {:?}", started.elapsed());
    assert!(closed_by_server(&mut held, Duration::from_secs(2)), "the kept-alive connection is closed on stop");
}

/// Sends the headers of a POST of `len` bytes to /body.
fn post_head(tcp: &mut TcpStream, len: usize) {
    tcp.write_all(format!("POST /body HTTP/1.1\r\nhost: x\r\ncontent-length: {len}\r\n\r\n").as_bytes()).expect("headers");
}

/// Reads an answer's status line.
fn status(tcp: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.windows(2).any(|w| w == b"\r\n") {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).lines().next().unwrap_or_default().to_string()
}

#[test]
fn a_body_that_stalls_is_answered_with_an_error_and_the_connection_closed() {
    let (addr, stop, thread) = start(limits());
    // A whole body in time is served.
    let mut ok = connect_from([127, 0, 0, 10], addr);
    post_head(&mut ok, 5);
    ok.write_all(b"hello").expect("body");
    assert!(status(&mut ok).starts_with("HTTP/1.1 200"), "a body sent at once is read");
    // Headers, half the body, then nothing: cut after the idle time (600 ms), well
    // before the body's own time (30 s) or the lifetime.
    let started = Instant::now();
    let mut stalled = connect_from([127, 0, 0, 10], addr);
    post_head(&mut stalled, 10);
    stalled.write_all(b"hello").expect("half a body");
    let line = status(&mut stalled);
    assert!(line.starts_with("HTTP/1.1 400"), "the handler could not read the body: {line:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "answered after {:?}", started.elapsed());
    assert!(closed_by_server(&mut stalled, Duration::from_secs(5)), "and the connection is closed");
    stop.send(()).expect("stop");
    thread.join().expect("server thread");
}

#[test]
fn a_body_that_trickles_past_its_time_is_cut() {
    // Each byte arrives within the idle time, the whole not within the body's time.
    let (addr, stop, thread) = start(ConnLimits { idle: Duration::from_secs(2), body: Duration::from_millis(1500), ..limits() });
    let mut slow = connect_from([127, 0, 0, 11], addr);
    post_head(&mut slow, 100);
    let started = Instant::now();
    let mut cut = false;
    for _ in 0..100 {
        if slow.write_all(b"x").is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let line = status(&mut slow);
    assert!(cut || line.starts_with("HTTP/1.1 400"), "the trickle was answered with {line:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "cut after {:?}", started.elapsed());
    stop.send(()).expect("stop");
    thread.join().expect("server thread");
}

#[test]
fn a_client_that_does_not_read_its_answer_is_dropped() {
    let (addr, stop, thread) = start(limits());
    let mut sink = connect_from([127, 0, 0, 12], addr);
    sink.write_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n").expect("request");
    // Never read until the server had time to fill the socket buffers and give up.
    std::thread::sleep(Duration::from_secs(3));
    // Now drain: the answer stops short of its 64 MiB, then the connection ends.
    sink.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let ended = loop {
        match sink.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got += n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break false,
            Err(_) => break true,
        }
    };
    assert!(ended, "the server closed the connection");
    assert!(got < 64 << 20, "only what the buffers held arrived: {got} bytes");
    stop.send(()).expect("stop");
    thread.join().expect("server thread");
}
