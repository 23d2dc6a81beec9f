#!/usr/bin/env bash
# Installs the Debian packages some tests drive for real, each only when missing:
# - OpenSSH server and client for tests/remote (the tests start their own sshd on 127.0.0.1 with throw-away
#   keys and their own config; nothing here enables or starts the system service);
# - Chromium for tests/report/test_html_browser.py (report.html rendered in a real headless browser).
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; then missing+=(openssh-server openssh-client); fi
if ! command -v chromium >/dev/null 2>&1; then missing+=(chromium); fi
[ ${#missing[@]} -eq 0 ] && exit 0
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian's postinst may start the system sshd on port 22; the tests do not need it.
$SUDO service ssh stop >/dev/null 2>&1 || true
