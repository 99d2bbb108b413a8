#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Fetch and unpack the Debian source of the strongSwan that charon on this
# machine runs, so the kernel-ipsecif plugin is built against the exact
# headers (struct layouts of kernel_ipsec_t and friends change between
# releases).  A private sources list adds deb-src; the system's lists are
# never touched.
# Then a configure run generates config.h, which strongSwan's headers
# expect (-include config.h, as its own plugins are built); nothing else
# of strongSwan is built.
#   scripts/fetch-strongswan.sh DIR   -> prints DIR/strongswan-<upstream version>
set -eu

dir=$1
ver=$(dpkg-query -W -f '${Version}' strongswan-charon 2>/dev/null || true)
if [ -z "$ver" ]; then
	echo "fetch-strongswan: strongswan-charon is not installed" >&2
	exit 1
fi
upstream=${ver%-*}
src=$dir/strongswan-$upstream
if [ -f "$src/.fetched" ] && [ -f "$src/config.h" ]; then
	readlink -f "$src"
	exit 0
fi

. "$(dirname "$0")/apt-private.sh"
apt_private "$dir"
list=$dir/apt/sources.list
# Same mirrors and suites as the system's deb822 / one-line sources, as deb-src.
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] || continue
	case $f in
	*.sources)
		awk '
		/^URIs:/ { uri = $2 }
		/^Suites:/ { suites = ""; for (i = 2; i <= NF; i++) suites = suites " " $i }
		/^Components:/ { comp = ""; for (i = 2; i <= NF; i++) comp = comp " " $i }
		/^$/ { if (uri != "" && uri ~ /debian/) { n = split(suites, s, " ");
			for (i = 1; i <= n; i++) print "deb-src " uri " " s[i] comp }
			uri = "" }
		END { if (uri != "" && uri ~ /debian/) { n = split(suites, s, " ");
			for (i = 1; i <= n; i++) print "deb-src " uri " " s[i] comp } }
		' "$f" >> "$list" ;;
	*)
		sed -n 's/^deb \(.*debian.*\)/deb-src \1/p' "$f" >> "$list" ;;
	esac
done

# shellcheck disable=SC2086
apt-get -q $apt_opts update >&2
cd "$dir"
# Unpack only (no build dependencies needed: the plugin needs headers and a
# config.h, which the Makefile generates itself).
# The installed revision first; if a mirror lacks its files (security
# mirrors drop superseded .dsc files), another Debian revision of the same
# upstream release: Debian's revisions of 5.9.8 are security fixes that do
# not touch the kernel interface headers.
# shellcheck disable=SC2086
cands=$(apt-cache $apt_opts showsrc strongswan 2>/dev/null |
	sed -n 's/^Version: //p' | grep -F "$upstream-" | sort -rV)
got=
for v in $ver $cands; do
	# shellcheck disable=SC2086
	if apt-get -q $apt_opts source --download-only "strongswan=$v" >&2; then
		got=$v
		break
	fi
done
if [ -z "$got" ]; then
	echo "fetch-strongswan: no source package for strongswan $upstream" >&2
	exit 1
fi
[ "$got" = "$ver" ] ||
	echo "fetch-strongswan: using source $got for installed $ver" >&2
rm -rf "strongswan-$upstream"
dpkg-source --no-check -x "strongswan_$got.dsc" "strongswan-$upstream" >&2
echo "$got" > "strongswan-$upstream/.debian-version"
touch "strongswan-$upstream/.fetched"
cd "strongswan-$upstream"
# Debian's choices that reach the headers (IKEv1 and IKEv2, mediation: ME),
# and no plugin that would want libraries this machine lacks.
echo "fetch-strongswan: configuring for config.h (log: $(pwd)/configure.log)" >&2
./configure --prefix=/usr --sysconfdir=/etc --libexecdir=/usr/lib \
	--disable-defaults --enable-charon --enable-ikev1 --enable-ikev2 \
	--enable-mediation --enable-kernel-netlink --enable-socket-default \
	--enable-vici --enable-swanctl > configure.log 2>&1 ||
	{ echo "fetch-strongswan: configure failed, see configure.log" >&2; exit 1; }
pwd
