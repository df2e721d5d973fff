//! One client per instance address, created on first use by a caller-supplied factory (for
//! tonic: `Channel::from_shared(..)?.connect_lazy()`), dropped when the address leaves the ring.

use std::collections::{HashMap, HashSet};

use parking_lot::Mutex;

type Factory<C, E> = Box<dyn Fn(&str) -> Result<C, E> + Send + Sync>;

/// Clients keyed by address.
pub struct ClientPool<C: Clone, E> {
    clients: Mutex<HashMap<String, C>>,
    factory: Factory<C, E>,
}

impl<C: Clone, E> ClientPool<C, E> {
    /// A pool that creates missing clients with `factory`.
    pub fn new(factory: impl Fn(&str) -> Result<C, E> + Send + Sync + 'static) -> Self {
        Self {
            clients: Mutex::new(HashMap::new()),
            factory: Box::new(factory),
        }
    }

    /// The client for `addr`, created if needed. A factory error is returned and not cached.
    pub fn get(&self, addr: &str) -> Result<C, E> {
        let mut clients = self.clients.lock();
        if let Some(client) = clients.get(addr) {
            return Ok(client.clone());
        }
        let client = (self.factory)(addr)?;
        clients.insert(addr.to_string(), client.clone());
        Ok(client)
    }

    /// Drops the client of `addr` (e.g. after a connection error); true when there was one.
    pub fn remove(&self, addr: &str) -> bool {
        self.clients.lock().remove(addr).is_some()
    }

    /// Drops clients whose address is not in `live_addrs`; returns how many were dropped.
    pub fn remove_stale<'a>(&self, live_addrs: impl IntoIterator<Item = &'a str>) -> usize {
        let live: HashSet<&str> = live_addrs.into_iter().collect();
        let mut clients = self.clients.lock();
        let before = clients.len();
        clients.retain(|addr, _| live.contains(addr.as_str()));
        before - clients.len()
    }

    /// Addresses with a client, sorted.
    pub fn addresses(&self) -> Vec<String> {
        let mut addrs: Vec<String> = self.clients.lock().keys().cloned().collect();
        addrs.sort();
        addrs
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn creates_once_and_removes_stale() {
        let created = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&created);
        let pool = ClientPool::new(move |addr: &str| {
            if addr.is_empty() {
                return Err("empty address");
            }
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(format!("client-{addr}"))
        });
        assert_eq!(pool.get("a:1"), Ok("client-a:1".to_string()));
        assert_eq!(pool.get("a:1"), Ok("client-a:1".to_string()));
        assert_eq!(pool.get("b:1"), Ok("client-b:1".to_string()));
        assert_eq!(pool.get(""), Err("empty address"));
        assert_eq!(created.load(Ordering::SeqCst), 2);
        assert_eq!(pool.remove_stale(["b:1", "c:1"]), 1);
        assert_eq!(pool.addresses(), vec!["b:1".to_string()]);
        assert!(pool.remove("b:1"));
        assert!(!pool.remove("b:1"));
        assert!(pool.addresses().is_empty());
    }
}
