#!/usr/bin/env bash
# Installs Debian's etcd server when it is missing; the cluster tests start their own
# etcd process on a free loopback port and stop it again.
set -euo pipefail
if command -v etcd >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
else
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq etcd-server >/dev/null
