//! The Python clients of the end-to-end tests (`tests/python/*.py`), run with the venv that
//! `tests/setup-e2e.sh` creates (or `$SEXTANT_E2E_PYTHON`).

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};

/// The workspace root.
pub fn workspace() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `$SEXTANT_E2E_PYTHON`, else the venv of `tests/setup-e2e.sh`.
pub fn python() -> Result<PathBuf> {
    let path = std::env::var_os("SEXTANT_E2E_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/e2e-venv/bin/python"));
    if !path.is_file() {
        bail!(
            "no Python for the client tests at {}: run `bash tests/setup-e2e.sh` (it creates \
             the venv with python-logging-loki and the OpenTelemetry SDK), or set \
             SEXTANT_E2E_PYTHON to a Python that has them",
            path.display()
        );
    }
    Ok(path)
}

/// Runs `tests/python/<script>` with `args` off the async runtime and returns what it
/// printed; a failing script is an error showing its output.
pub async fn run_script(script: &str, args: Vec<String>) -> Result<String> {
    let python = python()?;
    let path = workspace().join("tests/python").join(script);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(&path)
            .args(&args)
            .output()
            .with_context(|| format!("run {} {} {args:?}", python.display(), path.display()))
    })
    .await??;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    Ok(stdout)
}
