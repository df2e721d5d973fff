//! The `sextant` binary's library half: root config, the module table and the process
//! lifecycle, so tests can load configs and resolve targets without spawning a process.
//!
//! - [`config`]: `RootConfig`, the one YAML file (a block per component).
//! - [`modules`]: the module table and init functions; targets × signals → modules.
//! - `adapters`: glue between components and the ring/gossip crate (narrow traits each
//!   component declares, implemented here); `logs_adapters` and `traces_adapters`: the tonic
//!   clients of the logs and traces ingesters.
//! - [`run`]: load config, init modules, serve HTTP and gRPC, start in order, stop in reverse.

mod adapters;
pub mod config;
mod logs_adapters;
pub mod modules;
pub mod run;
mod traces_adapters;
