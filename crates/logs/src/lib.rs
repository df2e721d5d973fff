//! The logs engine: LogQL parsing ([`logql`]) and the log pipeline stages that filter,
//! parse and reshape lines ([`pipeline`]).

pub mod logql;
pub mod pipeline;
