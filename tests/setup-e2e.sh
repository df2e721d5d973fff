#!/usr/bin/env bash
# Installs what `make e2e` needs beyond the Rust toolchain: a real Prometheus server (Debian
# package `prometheus`, binary /usr/bin/prometheus), a real Alertmanager for the ruler tests
# (package `prometheus-alertmanager`, binary /usr/bin/prometheus-alertmanager), a Python venv with the logging clients of
# tests/tests/logs_clients.rs (python-logging-loki and the OpenTelemetry SDK, pinned in
# tests/python/requirements.txt) and s3s-fs. Idempotent: does nothing for what is already there.
# Runs as root (or through sudo) on Debian bookworm.
set -euo pipefail

# python3-venv: Debian's python3 cannot create a venv (no ensurepip, so no pip) without it.
PACKAGES=(prometheus prometheus-alertmanager python3-venv)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf 'setup-e2e: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root (or sudo) to run: $*"
        exit 1
    fi
}

# Runs an apt command, retrying while another apt/dpkg holds the lock (for example
# unattended-upgrades on a fresh machine). Gives up after about five minutes.
apt_retry() {
    local attempt
    for attempt in $(seq 1 30); do
        if as_root env DEBIAN_FRONTEND=noninteractive "$@"; then
            return 0
        fi
        log "'$*' failed (attempt ${attempt}/30), retrying in 10s (dpkg lock held?)"
        sleep 10
    done
    log "'$*' kept failing"
    return 1
}

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            printf '%s\n' "$pkg"
        fi
    done
}

main() {
    local missing
    missing="$(missing_packages)"
    if [ -n "$missing" ]; then
        # shellcheck disable=SC2086 # word splitting of the package list is intended
        log "installing: $(echo $missing)"
        apt_retry apt-get update
        # shellcheck disable=SC2086
        apt_retry apt-get install -y --no-install-recommends $missing
    else
        log "all packages already installed: ${PACKAGES[*]}"
    fi
    # The Debian package starts a prometheus service on :9090 where systemd runs; the tests
    # start their own on free ports and do not need it.
    local bin="${PROMETHEUS_BIN:-$(command -v prometheus || echo /usr/bin/prometheus)}"
    if [ ! -x "$bin" ]; then
        log "prometheus binary not found after install (looked for ${bin})"
        exit 1
    fi
    "$bin" --version 2>&1 | head -n 1
    # Same for prometheus-alertmanager (a service on :9093); tests/src/alertmanager.rs starts
    # its own on free ports without clustering.
    local am_bin="${ALERTMANAGER_BIN:-$(command -v prometheus-alertmanager || echo /usr/bin/prometheus-alertmanager)}"
    if [ ! -x "$am_bin" ]; then
        log "alertmanager binary not found after install (looked for ${am_bin})"
        exit 1
    fi
    "$am_bin" --version 2>&1 | head -n 1
    install_python_clients
    install_s3s_fs
}

# The venv of the Python logging clients (tests/python/). The tests find its python through
# SEXTANT_E2E_PYTHON, by default target/e2e-venv/bin/python. A copy of the requirements inside
# the venv marks a finished install; a changed requirements file or a broken venv reinstalls.
E2E_VENV="${SEXTANT_E2E_VENV:-${REPO_ROOT}/target/e2e-venv}"
E2E_REQUIREMENTS="${REPO_ROOT}/tests/python/requirements.txt"

install_python_clients() {
    local stamp="${E2E_VENV}/sextant-requirements.txt"
    local venv_python="${E2E_VENV}/bin/python"
    if cmp -s "$E2E_REQUIREMENTS" "$stamp" &&
        "$venv_python" -c 'import logging_loki, opentelemetry.sdk._logs' 2>/dev/null; then
        log "python clients already installed in ${E2E_VENV}"
        return 0
    fi
    local python="${SEXTANT_E2E_SYSTEM_PYTHON:-python3}"
    if ! command -v "$python" >/dev/null 2>&1; then
        log "${python} not found: cannot create the venv for the python clients"
        exit 1
    fi
    log "creating ${E2E_VENV} and installing $(grep -cv '^#' "$E2E_REQUIREMENTS") python packages"
    rm -f "$stamp"
    "$python" -m venv --clear "$E2E_VENV"
    "$venv_python" -m pip install --disable-pip-version-check --no-input --quiet \
        -r "$E2E_REQUIREMENTS"
    "$venv_python" -c 'import logging_loki, opentelemetry.sdk._logs'
    cp "$E2E_REQUIREMENTS" "$stamp"
    log "python clients installed in ${E2E_VENV}"
}

# s3s-fs: a filesystem-backed S3 server for tests/tests/s3_e2e.rs. Installed with cargo as the
# user running this script (into ~/.cargo/bin), not as root; a few minutes of compiling once.
S3S_FS_VERSION=0.14.1

install_s3s_fs() {
    if command -v s3s-fs >/dev/null 2>&1 || [ -x "${HOME}/.cargo/bin/s3s-fs" ]; then
        log "s3s-fs already installed"
        return 0
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        log "cargo not found: cannot install s3s-fs"
        exit 1
    fi
    log "installing s3s-fs ${S3S_FS_VERSION} (cargo install)"
    cargo install "s3s-fs@${S3S_FS_VERSION}" --locked --features binary
}

main "$@"
