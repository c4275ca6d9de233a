#!/usr/bin/env bash
# Builds bin/tandem_<version>_<arch>.deb from bin/tandem (run `make build` first).
# The version comes from FyneApp.toml unless given: packaging/deb.sh 0.1.0
set -euo pipefail
cd "$(dirname "$0")/.."

bin=bin/tandem
[ -x "$bin" ] || { echo "deb.sh: $bin is missing; run make build first" >&2; exit 1; }
version=${1:-$(sed -n 's/^ *Version *= *"\(.*\)"/\1/p' FyneApp.toml)}
[ -n "$version" ] || { echo "deb.sh: no version given and none in FyneApp.toml" >&2; exit 1; }
arch=$(dpkg --print-architecture)
out=bin/tandem_${version}_${arch}.deb

root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$bin" "$root/usr/bin/tandem"
install -D -m 0644 packaging/tandem.desktop "$root/usr/share/applications/io.tandemsync.tandem.desktop"
install -D -m 0644 assets/icon.png "$root/usr/share/icons/hicolor/512x512/apps/io.tandemsync.tandem.png"
mkdir -p "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<CONTROL
Package: tandem
Version: $version
Architecture: $arch
Maintainer: Tandem developers <tandem@tandemsync.io>
Section: net
Priority: optional
Depends: libc6, libgl1, libx11-6, libxcursor1, libxrandr2, libxinerama1, libxi6, libxxf86vm1
Recommends: gnome-keyring | kwalletmanager
Installed-Size: $(du -sk "$root/usr" | cut -f1)
Homepage: https://github.com/tandemsync/tandem
Description: decentralized two-way sync agent for issue trackers
 Each company runs its own Tandem agent next to its own tracker; two agents
 pair over mutual TLS and keep linked items in sync. No central server.
CONTROL
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out"
