#!/usr/bin/env bash
# Installs the Debian packages tdm needs, if any is missing (root or sudo).
set -euo pipefail

packages=(
  make g++ cmake pkg-config
  postgresql-15 postgresql-server-dev-15 postgresql-contrib
  postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
  libboost-dev libxxhash-dev googletest libgtest-dev libbenchmark-dev
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

# As root the commands run as they are; otherwise through sudo, keeping
# DEBIAN_FRONTEND for apt.
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo -E)
echo "Installing: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
