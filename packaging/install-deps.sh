#!/usr/bin/env bash
# Installs what building and testing Parley needs on Debian or Ubuntu:
# a C compiler and pkg-config (cgo), the GL/X11 headers Fyne's window needs,
# ALSA and Opus headers for calls, iproute2 and iptables for the kernel-NAT
# test (network namespaces; it runs as root only), and Go 1.21 or newer (which fetches the
# exact Go release go.mod asks for through the module proxy by itself).
# With --test it also installs what the packaging tests use (make, lintian,
# debootstrap, file, xz-utils, systemd-container) and the desktop smoke test (xvfb, x11-apps,
# x11-utils); those are optional: without them, and
# without root, the packaging tests skip and say why.
# Run as root it installs what is missing; otherwise it prints the command.
set -euo pipefail

PKGS=(gcc pkg-config libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev
      libxinerama-dev libxi-dev libxxf86vm-dev libasound2-dev libopus-dev libopusfile-dev
      iproute2 iptables curl)
TEST_PKGS=(make lintian debootstrap file xz-utils systemd-container xvfb x11-apps x11-utils)

# Go from /usr/local/go counts even when it is not on PATH yet.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# go_ok: a Go that builds this module. Go 1.21+ fetches the release go.mod
# names by itself (GOTOOLCHAIN=auto, through the module proxy); asking for
# its version inside the module tries exactly that.
root=$(cd "$(dirname "$0")/.." && pwd)
go_ok() {
  command -v go >/dev/null 2>&1 || return 1
  local v; v=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
  [ "$(printf '%s\n1.21\n' "${v%%[a-z]*}" | sort -V | head -1)" = "1.21" ] || return 1
  (cd "$root" && go version >/dev/null 2>&1)
}
go_need="Go must be 1.21 or newer, and able to fetch the release go.mod names (GOTOOLCHAIN=auto, the default) or be that release itself: Debian 12 and Ubuntu 22.04 need Go from backports or https://go.dev/dl/."
go_ok || missing+=(golang-go)

if [ "${1:-}" = "--test" ]; then
  for p in "${TEST_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
    if [ "$(id -u)" -eq 0 ]; then
      missing+=("$p")
    else
      echo "The packaging and desktop-window tests skip without $p (and without root)." >&2
    fi
  done
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "Parley needs these packages: ${missing[*]}" >&2
  echo "Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  echo "(or run this script as root). $go_need" >&2
  exit 1
fi

echo "Installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if ! go_ok; then
  echo "The Go on this system cannot build Parley. $go_need" >&2
  exit 1
fi
