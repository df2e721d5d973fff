//! Free loopback ports: bind `127.0.0.1:0`, read the port, release it.
//!
//! A port handed out once is never handed out again by this process, so the processes of one
//! test (and of tests running in parallel threads) never collide with each other. Another
//! program could still grab the port between release and use; that window is short.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::{Mutex, OnceLock};

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A loopback address whose port is free for TCP and UDP (memberlist uses both).
pub fn free_loopback_addr() -> SocketAddr {
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("local addr of a bound listener");
        if UdpSocket::bind(addr).is_err() {
            continue;
        }
        let mut ports = handed_out().lock().unwrap_or_else(|e| e.into_inner());
        if ports.insert(addr.port()) {
            return addr;
        }
    }
    panic!("no free loopback port after 100 tries");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_hands_out_a_port_twice() {
        let ports: HashSet<u16> = (0..50).map(|_| free_loopback_addr().port()).collect();
        assert_eq!(ports.len(), 50);
    }
}
