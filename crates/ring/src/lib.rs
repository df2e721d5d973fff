//! Gossip membership (memberlist) and token rings: lifecycler, replication sets, status pages.
//!
//! Map:
//! - [`token_ring`]: pure ring math. `desc` holds the gossiped state ([`RingDesc`], merged
//!   last-writer-wins per instance), `codec` its compact binary form, and [`TokenRing`] maps a
//!   key to a [`ReplicationSet`]. Property tests live in `token_ring/tests.rs`.
//! - [`gossip`]: [`GossipKv`], the KV of ring states, behind the [`gossip::GossipTransport`]
//!   seam: the `memberlist` crate in production (`gossip/net.rs`), [`InMemoryCluster`] in
//!   tests. `gossip/store.rs` is the transport-agnostic state and merge logic.
//! - [`lifecycler`]: an instance's life in a ring ([`Lifecycler`]; token choice and the tokens
//!   file in `lifecycler/tokens.rs`) and the read side ([`Ring`], `lifecycler/ring.rs`) that
//!   keeps a fresh [`TokenRing`].
//! - [`client_pool`]: one client per instance address.
//! - [`http`]: `/ring`, `/ring/{name}`, forget, `/memberlist`.
//!
//! Changing the gossiped fields touches `desc.rs` and `codec.rs` together (bump the codec
//! version). Test with `cargo test -p sextant-ring`; one gossip test binds loopback ports.

pub mod client_pool;
pub mod error;
pub mod gossip;
pub mod http;
pub mod lifecycler;
pub mod token_ring;

pub use client_pool::ClientPool;
pub use error::RingError;
pub use gossip::{GossipKv, InMemoryCluster, MemberStatus, MemberlistConfig};
pub use http::{ring_router, RingHttpState};
pub use lifecycler::{Lifecycler, LifecyclerConfig, Ring};
pub use token_ring::{
    InstanceDesc, InstanceState, Operation, ReplicationConfig, ReplicationSet, RingDesc, TokenRing,
};
