//! Free loopback ports, picked below the kernel's ephemeral range.
//!
//! Ports come from [`FIRST_PORT`, `LAST_PORT`), under Linux's default ephemeral range
//! (32768–60999), so an outgoing connection of any process can never take the port of a
//! process that a test killed and is about to restart (with `127.0.0.1:0` it could, and the
//! restarted process then failed to bind). A port handed out once is never handed out again by
//! this process, so the processes of one test (and of tests running in parallel threads) never
//! collide with each other; the start is randomised so that test binaries running one after
//! another do not walk the same ports.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

const FIRST_PORT: u16 = 20_000;
const LAST_PORT: u16 = 32_000;

struct Ports {
    next: u16,
    handed_out: HashSet<u16>,
}

fn ports() -> &'static Mutex<Ports> {
    static PORTS: OnceLock<Mutex<Ports>> = OnceLock::new();
    PORTS.get_or_init(|| {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ std::process::id());
        let span = u32::from(LAST_PORT - FIRST_PORT);
        let next = FIRST_PORT + (seed % span) as u16;
        Mutex::new(Ports {
            next,
            handed_out: HashSet::new(),
        })
    })
}

/// A loopback address whose port is free for TCP and UDP (memberlist uses both).
pub fn free_loopback_addr() -> SocketAddr {
    let mut ports = ports().lock().unwrap_or_else(|e| e.into_inner());
    for _ in FIRST_PORT..LAST_PORT {
        let port = ports.next;
        ports.next = if port + 1 >= LAST_PORT {
            FIRST_PORT
        } else {
            port + 1
        };
        if ports.handed_out.contains(&port) {
            continue;
        }
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let free = TcpListener::bind(addr).is_ok() && UdpSocket::bind(addr).is_ok();
        if free {
            ports.handed_out.insert(port);
            return addr;
        }
    }
    panic!("no free loopback port in {FIRST_PORT}..{LAST_PORT}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_hands_out_a_port_twice() {
        let ports: HashSet<u16> = (0..50).map(|_| free_loopback_addr().port()).collect();
        assert_eq!(ports.len(), 50);
        assert!(ports.iter().all(|p| (FIRST_PORT..LAST_PORT).contains(p)));
    }
}
