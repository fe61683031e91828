#!/usr/bin/env bash
# Fetches Docker 28.5.2 and containerd 2.1.9 from Debian's unstable suite into a cache directory,
# without installing anything system-wide (a private apt sources list, lists and cache), and unpacks
# them there. Debian 12's own runc is used with them (the unstable runc needs a newer glibc).
#
#   scripts/fetch-docker-engine.sh DIR     ->  DIR/root/usr/sbin: dockerd, docker-proxy
#                                               DIR/root/usr/bin: docker, containerd, containerd-shim-runc-v2
# Put both first in PATH to run that engine.
# Idempotent: a DIR that already holds the wanted versions is left as it is.
set -euo pipefail
dir=${1:?usage: $0 DIR}
DOCKER_VERSION=${DOCKER_VERSION:-28.5.2+dfsg4-5}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-2.1.9+ds1-5}
stamp="$dir/.ready-$DOCKER_VERSION-$CONTAINERD_VERSION"
[ -f "$stamp" ] && exit 0

mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/debs"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian unstable main" >"$dir/apt/sources.list"
apt_opts=(-q -o "Dir::Etc::sourcelist=$dir/apt/sources.list" -o Dir::Etc::sourceparts=/dev/null
  -o "Dir::State::Lists=$dir/apt/lists" -o "Dir::Cache=$dir/apt/cache")
apt-get "${apt_opts[@]}" update >/dev/null
cd "$dir/debs"
rm -f ./*.deb
chmod 777 . # apt's _apt user downloads here
if ! apt-get "${apt_opts[@]}" download "docker.io=$DOCKER_VERSION" "docker-cli=$DOCKER_VERSION" "containerd=$CONTAINERD_VERSION" >/dev/null 2>"$dir/apt/download.err"; then
  cat "$dir/apt/download.err" >&2
  # The unstable suite moves on: say which versions it has now, and stop (tests must name their engine).
  echo "docker.io $DOCKER_VERSION or containerd $CONTAINERD_VERSION is no longer in Debian unstable; it has:" >&2
  apt-cache "${apt_opts[@]}" policy docker.io containerd | grep -E '^[a-z]|Candidate' >&2
  echo "set DOCKER_VERSION/CONTAINERD_VERSION to those to test against them" >&2
  exit 1
fi
rm -rf "$dir/root"
for deb in ./*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
for bin in usr/sbin/dockerd usr/sbin/docker-proxy usr/bin/docker usr/bin/containerd usr/bin/containerd-shim-runc-v2; do
  [ -x "$dir/root/$bin" ] || { echo "$bin missing after unpacking" >&2; exit 1; }
done
rm -f ./*.deb "$dir"/.ready-*
touch "$stamp"
