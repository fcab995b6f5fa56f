//! A TCP proxy between `dbx` and the server that counts the bytes sent up, can cut every
//! connection once a number of bytes has gone through (and refuse new ones until it is
//! healed), and can be pointed at another server (one restarted on a new port), so the
//! client keeps one server URL across a restart.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

struct Shared {
    target: Mutex<String>,
    /// Bytes from clients to the server since the last `reset_count`.
    up: AtomicU64,
    /// Cut once `up` passes this (0: never).
    cut_after: AtomicU64,
    cut: AtomicBool,
}

pub struct Proxy {
    pub url: String,
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy to `target` (`http://host:port`).
    pub fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let shared = Arc::new(Shared {
            target: Mutex::new(host_port(target)),
            up: AtomicU64::new(0),
            cut_after: AtomicU64::new(0),
            cut: AtomicBool::new(false),
        });
        let s = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                if s.cut.load(Ordering::SeqCst) {
                    let _ = conn.shutdown(Shutdown::Both);
                    continue;
                }
                let s = s.clone();
                thread::spawn(move || relay(conn, s));
            }
        });
        Proxy { url, shared }
    }

    /// Sends the next connections to `target`.
    pub fn retarget(&self, target: &str) {
        *self.shared.target.lock().expect("target") = host_port(target);
    }

    /// Cuts every connection once `bytes` more have gone up, until `heal`.
    pub fn cut_after(&self, bytes: u64) {
        let now = self.shared.up.load(Ordering::SeqCst);
        self.shared.cut_after.store(now + bytes, Ordering::SeqCst);
    }

    pub fn is_cut(&self) -> bool {
        self.shared.cut.load(Ordering::SeqCst)
    }

    /// Lets connections through again, counting from zero.
    pub fn heal(&self) {
        self.shared.cut_after.store(0, Ordering::SeqCst);
        self.shared.up.store(0, Ordering::SeqCst);
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Bytes sent up since the last `heal`.
    pub fn sent_up(&self) -> u64 {
        self.shared.up.load(Ordering::SeqCst)
    }
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

fn relay(client: TcpStream, s: Arc<Shared>) {
    let target = s.target.lock().map(|t| t.clone()).unwrap_or_default();
    let Ok(server) = TcpStream::connect(&target) else {
        return;
    };
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let down_shared = s.clone();
    let down = thread::spawn(move || pipe(s2, c2, &down_shared, false));
    pipe(client, server, &s, true);
    let _ = down.join();
}

/// Copies `from` into `to` until either ends or the proxy is cut; then closes both.
fn pipe(mut from: TcpStream, mut to: TcpStream, s: &Shared, up: bool) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if s.cut.load(Ordering::SeqCst) {
            break;
        }
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if up {
            let total = s.up.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
            let limit = s.cut_after.load(Ordering::SeqCst);
            if limit > 0 && total >= limit {
                s.cut.store(true, Ordering::SeqCst);
                break;
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
