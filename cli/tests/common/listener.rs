//! A TCP server a test binds on one of the host's addresses, to see whether a RUN step can
//! reach it: it reads the request (an HTTP request, or whatever `nc` sends), answers every
//! connection with an HTTP response whose body is `host\n`, and notes that someone
//! connected. It stops (and its thread ends) when dropped.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct HostListener {
    pub addr: SocketAddr,
    reached: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HostListener {
    /// Listens on `ip`, on a port the kernel picks.
    pub fn bind(ip: IpAddr) -> HostListener {
        let listener = TcpListener::bind((ip, 0)).expect("bind the host listener");
        let addr = listener.local_addr().expect("listener address");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let reached = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, stopping) = (Arc::clone(&reached), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                if let Ok((mut stream, _)) = listener.accept() {
                    flag.store(true, Ordering::SeqCst);
                    answer(&mut stream);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        HostListener {
            addr,
            reached,
            stop,
            thread: Some(thread),
        }
    }

    /// On 127.0.0.1.
    pub fn loopback() -> HostListener {
        HostListener::bind(IpAddr::from([127, 0, 0, 1]))
    }

    /// Whether anyone has connected so far.
    pub fn reached(&self) -> bool {
        self.reached.load(Ordering::SeqCst)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for HostListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads until the end of the request headers, end of file or a pause, then answers.
fn answer(stream: &mut std::net::TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while let Ok(n @ 1..) = stream.read(&mut buffer) {
        request.extend_from_slice(&buffer[..n]);
        if request.windows(4).any(|w| w == b"\r\n\r\n") || request.len() > 64 * 1024 {
            break;
        }
    }
    let _ = stream
        .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhost\n");
}

/// The host's IPv4 address on the interface of its default route (what outbound traffic
/// leaves from), or `None` when it has no route off the machine. No packet is sent: a UDP
/// connect only picks the source address.
pub fn outbound_ipv4() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("203.0.113.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}
