#!/usr/bin/env bash
# Makes sure the Debian packages paxsync needs are installed.
#   scripts/deps.sh demo   - what building and running the Ebiten demo needs
#   scripts/deps.sh test   - the above plus Xvfb, for the headless demo test,
#                            and Chromium, which renders `paxsync match`'s
#                            report.html in its test
# As root it installs what is missing with apt-get and says what; otherwise
# it prints the exact command to run and exits 1.
set -euo pipefail
mode=${1:-test}
pkgs=(pkg-config libc6-dev libgl1-mesa-dev libxcursor-dev libxi-dev libxinerama-dev
      libxrandr-dev libxxf86vm-dev libasound2-dev)
if [ "$mode" = test ]; then
  pkgs+=(xvfb xauth libgl1-mesa-dri iproute2 chromium)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go is not on PATH; install Go 1.26 or newer first (https://go.dev/doc/install)" >&2
  exit 1
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all system packages present (${pkgs[*]})"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  echo "deps: run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing with apt-get: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${missing[*]}"
