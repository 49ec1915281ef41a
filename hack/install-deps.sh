#!/usr/bin/env bash
# Install the Debian packages that the tests, the benchmarks and the demo use.
# Installing them must start nothing: policy-rc.d answers 101 while we install.
set -euo pipefail
pkgs=(openssh-server git git-daemon-sysvinit gnupg xorriso genisoimage gdisk xfsprogs fuseiso
      systemd-container ansible iproute2 util-linux procps sudo)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
restore=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; restore=1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
[ -n "$restore" ] && rm -f /usr/sbin/policy-rc.d
exit 0
