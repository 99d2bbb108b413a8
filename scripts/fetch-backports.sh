#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Fetch pinned packages from Debian's bookworm-backports and unpack them
# under DIR/root, without installing them: what the benchmark runs beside
# ipsecif as a user would install it today (wireguard-go 0.0.20231211;
# bookworm's own is 0.0.20220316).  A private apt (scripts/apt-private.sh);
# the system's lists are never touched.
#   scripts/fetch-backports.sh DIR PKG=VERSION...   -> prints DIR/root
set -eu

here=$(dirname "$0")
. "$here/apt-private.sh"

dir=$1
shift
root=$dir/root
mkdir -p "$root"
todo=
for p in "$@"; do
	[ -f "$root/.${p%%=*}-${p#*=}" ] || todo="$todo $p"
done
if [ -n "$todo" ]; then
	apt_private "$dir"
	echo "deb $(debian_mirror) bookworm-backports main" > "$dir/apt/sources.list"
	# shellcheck disable=SC2086
	apt-get -q $apt_opts update >&2
	for p in $todo; do
		name=${p%%=*}
		rm -f "$dir/apt/archives/${name}_"*.deb
		# shellcheck disable=SC2086
		(cd "$dir/apt/archives" && apt-get -q $apt_opts download "$p" >&2)
		dpkg-deb -x "$dir/apt/archives/${name}_"*.deb "$root"
		rm -f "$root/.$name-"*
		touch "$root/.$name-${p#*=}"
	done
fi
readlink -f "$root"
