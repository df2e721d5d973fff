//! Choosing and persisting an instance's tokens.

use std::collections::HashSet;
use std::path::PathBuf;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::LifecyclerConfig;
use crate::error::RingError;
use crate::token_ring::RingDesc;

#[derive(Serialize, Deserialize)]
struct TokensFile {
    tokens: Vec<u32>,
}

/// `<dir>/tokens-<ring>.json`, when a directory is configured.
pub(super) fn file_path(config: &LifecyclerConfig, ring_name: &str) -> Option<PathBuf> {
    (!config.tokens_file_dir.is_empty())
        .then(|| PathBuf::from(&config.tokens_file_dir).join(format!("tokens-{ring_name}.json")))
}

/// Tokens from the file, else from the ring's entry for this id, else fresh ones not taken
/// by other instances. The result is persisted when a tokens directory is set.
pub(super) async fn pick(
    config: &LifecyclerConfig,
    ring_name: &str,
    ring: &RingDesc,
) -> Result<Vec<u32>, RingError> {
    let path = file_path(config, ring_name);
    if let Some(path) = &path {
        if let Some(tokens) = load(path).await? {
            tracing::info!(path = %path.display(), count = tokens.len(), "loaded tokens from file");
            return Ok(tokens);
        }
    }
    let tokens = match ring.instances.get(&config.instance_id) {
        Some(mine) if !mine.tokens.is_empty() => mine.tokens.clone(),
        _ => generate(
            config.num_tokens,
            ring,
            &config.instance_id,
            &mut rand::rng(),
        ),
    };
    if let Some(path) = &path {
        store(path, &tokens).await?;
    }
    Ok(tokens)
}

async fn load(path: &PathBuf) -> Result<Option<Vec<u32>>, RingError> {
    let io_err = |source| RingError::Io {
        path: path.display().to_string(),
        source,
    };
    match tokio::fs::read(path).await {
        Ok(bytes) => {
            let file: TokensFile = serde_json::from_slice(&bytes).map_err(|e| {
                RingError::decode("tokens file", format!("{}: {e}", path.display()))
            })?;
            let mut tokens = file.tokens;
            tokens.sort_unstable();
            tokens.dedup();
            Ok((!tokens.is_empty()).then_some(tokens))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(e)),
    }
}

async fn store(path: &PathBuf, tokens: &[u32]) -> Result<(), RingError> {
    let io_err = |source| RingError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io_err)?;
    }
    let body = serde_json::to_vec(&TokensFile {
        tokens: tokens.to_vec(),
    })
    .map_err(|e| RingError::decode("tokens file", e))?;
    let tmp = path.with_extension("json.tmp");
    tokio::fs::write(&tmp, body).await.map_err(io_err)?;
    tokio::fs::rename(&tmp, path).await.map_err(io_err)
}

/// `n` sorted distinct random tokens, none owned by another instance of the ring.
pub(super) fn generate(n: usize, ring: &RingDesc, my_id: &str, rng: &mut impl Rng) -> Vec<u32> {
    let taken: HashSet<u32> = ring
        .live_instances()
        .filter(|d| d.id != my_id)
        .flat_map(|d| d.tokens.iter().copied())
        .collect();
    let mut mine = HashSet::with_capacity(n);
    while mine.len() < n {
        let t: u32 = rng.random();
        if !taken.contains(&t) {
            mine.insert(t);
        }
    }
    let mut tokens: Vec<u32> = mine.into_iter().collect();
    tokens.sort_unstable();
    tokens
}
