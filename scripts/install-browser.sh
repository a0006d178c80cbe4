#!/usr/bin/env bash
# Installs what the web console's browser test needs: Debian's chromium and chromium-driver (chromedriver).
# The test (mock-server/tests/console) drives them over WebDriver from Rust; no node packages are needed.
# Idempotent: does nothing when both are already installed. Needs root (or sudo) for apt-get.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "chromium and chromedriver are installed: $(chromium --version 2>/dev/null | head -n1)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: no apt-get here; install chromium and chromedriver with your package manager" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q chromium chromium-driver
echo "installed: $(chromium --version 2>/dev/null | head -n1)"
