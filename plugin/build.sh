#!/usr/bin/env bash
# Assembles the managed-plugin directory of tsnet: OUT/config.json + OUT/rootfs/, from the built project and
# this machine's own binaries, with no container registry (README.md, "Managed plugin").
#
#   plugin/build.sh [OUT]        default OUT: plugin/build/tsnet (gitignored); needs `make build` first
#
# The rootfs holds exactly:
#   /usr/bin/node                  this machine's Node runtime (symbols stripped when `strip` exists;
#                                  TSNET_PLUGIN_STRIP=0 keeps them)
#   /opt/tsnet/{package.json,dist/src,node_modules}
#                                  the compiled daemon (no tests, no source maps) and the production
#                                  dependencies: a copy of node_modules pruned by `npm prune --omit=dev`
#                                  (offline), minus what never runs (TypeScript sources and declarations,
#                                  source maps, C/C++ sources, docs, native prebuilds for other platforms)
#   /usr/sbin/xtables-{nft,legacy}-multi + the {ip,ip6}tables-{nft,legacy}-{save,restore} links the firewall
#                                  runs (src/firewall/backend.ts), /usr/lib/<triplet>/xtables (extensions)
#   /usr/sbin/conntrack            deletes the connections of a Swarm VIP's task that went (src/firewall/conntrack.ts)
#   every shared library `ldd` lists for all of the above (libc, libstdc++, libxtables, libnftnl, ... and
#                                  the dynamic loader), at the path ldd gives
#   /etc/{passwd,group} (root only), /etc/protocols (iptables names protocols with it),
#   empty /run/docker/plugins, /var/lib/tsnet (state mount point), /tmp
#
# Bash rather than a TypeScript script: the work is copying files and calling ldd, npm, strip and chroot,
# which a shell does directly. Idempotent: OUT is rebuilt from scratch on every run (staging beside it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(cd "$here/.." && pwd)
out=${1:-$project/plugin/build/tsnet}
out=$(mkdir -p "$(dirname "$out")" && cd "$(dirname "$out")" && pwd)/$(basename "$out")
stage=$out.stage
rootfs=$stage/rootfs
app=/opt/tsnet

die() { echo "plugin/build.sh: $*" >&2; exit 1; }
step() { echo "plugin/build.sh: $*"; }

# ---- preconditions ---------------------------------------------------------------------------------------
[[ -f $project/dist/src/main.js ]] || die "dist/src/main.js missing: run 'make build' first"
[[ -d $project/node_modules ]] || die "node_modules missing: run 'npm ci' (or 'make deps') first"
[[ -f $project/config.json ]] || die "config.json missing at the project's top level"
node_bin=$(command -v node) || die "node not found"
node_bin=$(readlink -f "$node_bin")
command -v ldd >/dev/null || die "ldd not found (Debian package libc-bin)"
command -v npm >/dev/null || die "npm not found"
sbin_dir=""
for d in /usr/sbin /sbin; do
  if [[ -x $d/xtables-nft-multi && -x $d/xtables-legacy-multi ]]; then sbin_dir=$d; break; fi
done
[[ -n $sbin_dir ]] || die "xtables-nft-multi / xtables-legacy-multi not found (Debian package iptables)"
multiarch=$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
xt_dir=""
for d in "/usr/lib/$multiarch/xtables" /usr/lib/xtables /usr/libexec/xtables /lib/xtables; do
  if [[ -d $d ]]; then xt_dir=$d; break; fi
done
[[ -n $xt_dir ]] || die "xtables extension directory not found"
node_platform=$("$node_bin" -p 'process.platform + "-" + process.arch')
node_abi=$("$node_bin" -p 'process.versions.modules')

rm -rf "$stage"
mkdir -p "$rootfs"

# ---- binaries and their libraries --------------------------------------------------------------------------
# copy_file SRC DEST_IN_ROOTFS: content of SRC (symlinks followed) at DEST, mode kept.
copy_file() {
  local src=$1 dest=$rootfs$2
  [[ -e $dest ]] && return 0
  mkdir -p "$(dirname "$dest")"
  cp -L --preserve=mode "$src" "$dest"
}

# Shared objects whose libraries must come along (filled below, resolved at the end).
elf_files=()

copy_file "$node_bin" /usr/bin/node
if [[ ${TSNET_PLUGIN_STRIP:-1} != 0 ]] && command -v strip >/dev/null; then
  strip --strip-unneeded "$rootfs/usr/bin/node"
  step "node: symbol table stripped (TSNET_PLUGIN_STRIP=0 keeps it)"
fi
elf_files+=("$node_bin")

for multi in xtables-nft-multi xtables-legacy-multi; do
  copy_file "$sbin_dir/$multi" "/usr/sbin/$multi"
  elf_files+=("$sbin_dir/$multi")
done
# The commands src/firewall/backend.ts runs; the multi binaries dispatch on their name.
for fam in iptables ip6tables; do
  for flavour in nft legacy; do
    for tool in save restore; do
      ln -s "xtables-$flavour-multi" "$rootfs/usr/sbin/$fam-$flavour-$tool"
    done
  done
done
# conntrack (Debian package conntrack): optional; without it a VIP task's connections are left to time out.
if conntrack_bin=$(command -v conntrack); then
  copy_file "$conntrack_bin" /usr/sbin/conntrack
  elf_files+=("$conntrack_bin")
else
  step "conntrack not installed: the plugin cannot reset a removed VIP task's connections (apt-get install conntrack)"
fi
# Extensions (matches and targets): all of them, so that saving a ruleset never meets one it cannot print
# (dockerd's and other tools' rules live in the same tables).
mkdir -p "$rootfs$xt_dir"
cp -a "$xt_dir/." "$rootfs$xt_dir/"
for so in "$xt_dir"/*.so; do elf_files+=("$so"); done

# ---- the application ---------------------------------------------------------------------------------------
step "staging production node_modules (npm prune --omit=dev, offline)"
mods=$stage/modules
mkdir -p "$mods"
cp "$project/package.json" "$project/package-lock.json" "$mods/"
cp -a "$project/node_modules" "$mods/node_modules"
npm_args=(prune --omit=dev --ignore-scripts --offline --no-audit --no-fund --loglevel=error)
(cd "$mods" && npm "${npm_args[@]}") >/dev/null
nm=$mods/node_modules
rm -f "$nm/.package-lock.json"
rm -rf "$nm/.bin"
# Native prebuilds for other platforms, musl builds and builds for other Node ABIs never load here.
find "$nm" -type d -name prebuilds -prune -print0 |
  while IFS= read -r -d '' dir; do
    find "$dir" -mindepth 1 -maxdepth 1 -type d ! -name "$node_platform" -exec rm -rf {} +
  done
find "$nm" -type f -name '*.node' \( -name '*musl*' -o \( -name 'node.abi*' ! -name "node.abi$node_abi.*" \) \) -delete
# Per-platform packages (foo-darwin-arm64, ...) of other platforms: never required here (package.json's
# overrides may install them as aliases of the linux-x64 build).
find "$nm" -mindepth 1 -maxdepth 2 -type d -regextype posix-extended \
  -regex '.*-(darwin|win32|linux|freebsd|openbsd|netbsd|sunos|aix|android)-(x64|arm64|arm|ia32|ppc64|s390x|riscv64|loong64|mips64el)(-(gnu|musl|msvc|gnueabihf))?' \
  ! -name "*-$node_platform" ! -name "*-$node_platform-gnu" -prune -exec rm -rf {} +
# An N-API build is only the fallback for an exact-ABI build beside it.
find "$nm" -type f -name "node.abi$node_abi.glibc.node" -print0 |
  while IFS= read -r -d '' exact; do rm -f "$(dirname "$exact")/node.napi.glibc.node"; done
# Sources, declarations, maps, docs and build files: nothing requires them at run time.
find "$nm" -type f \( -name '*.ts' -o -name '*.cts' -o -name '*.mts' -o -name '*.map' -o -name '*.md' \
  -o -name '*.markdown' -o -name '*.c' -o -name '*.cc' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \
  -o -name '*.gyp' -o -name '*.gypi' -o -name '*.tsbuildinfo' \) ! -iname 'licen*' -delete
rm -rf "$nm/lmdb/dependencies"
find "$nm" -depth -type d -empty -delete
while IFS= read -r -d '' so; do elf_files+=("$so"); done < <(find "$nm" -type f -name '*.node' -print0)

mkdir -p "$rootfs$app/dist"
cp "$project/package.json" "$rootfs$app/"
cp -a "$project/dist/src" "$rootfs$app/dist/src"
find "$rootfs$app/dist" -type f -name '*.map' -delete
cp -a "$nm" "$rootfs$app/node_modules"

# ---- shared libraries (incl. the dynamic loader), at the paths ldd gives -----------------------------------
declare -A libs=()
for f in "${elf_files[@]}"; do
  while read -r lib; do
    [[ -n $lib ]] && libs[$lib]=1
  done < <(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
done
for lib in "${!libs[@]}"; do copy_file "$lib" "$lib"; done

# ---- the rest of the filesystem ----------------------------------------------------------------------------
mkdir -p "$rootfs/run/docker/plugins" "$rootfs/var/lib/tsnet" "$rootfs/tmp" "$rootfs/etc"
chmod 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"
[[ -f /etc/protocols ]] && cp /etc/protocols "$rootfs/etc/protocols"

# ---- self-check: the runtime, every daemon module and the iptables tools load inside the rootfs ------------
if [[ $(id -u) == 0 ]] && chroot_bin=$(command -v chroot); then
  check='const fs = require("fs"), path = require("path");
    const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith(".js") ? [path.join(d, e.name)] : []);
    const files = walk("/opt/tsnet/dist/src").filter((f) => f !== "/opt/tsnet/dist/src/main.js");
    for (const f of files) require(f);
    const lmdb = require("/opt/tsnet/node_modules/lmdb");
    const db = lmdb.open({ path: "/tmp/selfcheck.mdb" }); db.putSync("k", 1); if (db.get("k") !== 1) throw new Error("lmdb");
    console.log(`loaded ${files.length} modules`);'
  if ! msg=$(env -i PATH=/usr/sbin:/usr/bin "$chroot_bin" "$rootfs" /usr/bin/node -e "$check" 2>&1); then die "self-check failed: $msg"; fi
  rm -rf "$rootfs/tmp/"*
  for tool in iptables-nft-save iptables-legacy-restore; do
    if ! env -i "$chroot_bin" "$rootfs" "/usr/sbin/$tool" --version >/dev/null 2>&1; then
      die "self-check failed: $tool does not run inside the rootfs: $(chroot "$rootfs" "/usr/sbin/$tool" --version 2>&1 || true)"
    fi
  done
  step "self-check: $msg; iptables tools run"
else
  step "self-check skipped (needs root and chroot)"
fi

# ---- publish -----------------------------------------------------------------------------------------------
rm -rf "$mods"
cp "$project/config.json" "$stage/config.json"
"$node_bin" -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$stage/config.json" ||
  die "config.json is not valid JSON"
rm -rf "$out"
mv "$stage" "$out"
size=$(du -sh "$out/rootfs" | cut -f1)
step "plugin directory $out ready; rootfs $size ($(du -sh "$out/rootfs/usr/bin/node" | cut -f1) node, $(du -sh "$out/rootfs$app/node_modules" | cut -f1) node_modules)"
echo "rootfs size: $size"
