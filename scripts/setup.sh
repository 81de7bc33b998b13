#!/usr/bin/env bash
# Installs what libinfer needs on Debian 12, only what is missing: the apt packages, then a
# Python virtual environment in .venv/ with the PyPI packages the tests use (pytest, the
# official openai and ollama clients, the jsonschema validator).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(build-essential cmake pkg-config libopenblas-dev libvulkan-dev glslang-tools
      libcmocka-dev mesa-vulkan-drivers clang
      libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev python3 python3-venv
      nginx-light    # nginx-light: the load-balancer test of infer-server (tests/server/test_nginx.py)
      # the aarch64 cross build run under qemu-user (scripts/test-aarch64.sh), with the
      # arm64 multiarch -dev packages of the libraries it links
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libjansson-dev:arm64 libcmocka-dev:arm64)
missing=()
native=$(dpkg --print-architecture)
for p in "${pkgs[@]}"; do
  # with the :arm64 twin installed, a bare name is ambiguous to dpkg: ask for the native one
  dpkg -s "$p" >/dev/null 2>&1 || dpkg -s "$p:$native" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # the :arm64 packages need the architecture known to dpkg before apt-get update
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
  fi
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Test-only Python packages live in .venv so the system Python is never modified.
# wheel: `pip install --no-build-isolation ./python` (the Python package test) builds a wheel
# with setuptools, which before 70.1 needs the wheel package for bdist_wheel.
pypkgs=(pytest openai ollama jsonschema wheel)
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import pytest, openai, ollama, jsonschema, wheel' 2>/dev/null; then
  echo "setup: pip installing ${pypkgs[*]} into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check "${pypkgs[@]}"
fi
