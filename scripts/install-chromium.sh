#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the dashboard's browser test (DashboardTest), installed
# when missing: /usr/bin/chromium and /usr/bin/chromedriver.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-chromium: not root and no sudo: install Debian's chromium and chromium-driver" >&2
        exit 1
    fi
    sudo=(sudo)
fi
echo "== installing Debian's chromium and chromium-driver"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
chromium --version
chromedriver --version
