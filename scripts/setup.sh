#!/usr/bin/env bash
# Installs the Debian 12 packages libinfer needs, only those that are missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenblas-dev libvulkan-dev glslang-tools
      libcmocka-dev mesa-vulkan-drivers clang)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
