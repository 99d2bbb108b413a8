# SPDX-License-Identifier: GPL-2.0-only
# Sourced: an apt of the scripts' own, which reads only DIR/apt/sources.list
# and keeps its lists and downloads under DIR.  The system's lists and
# cache are never touched.
#   apt_private DIR      -> sets $apt_opts, makes DIR/apt; the caller fills
#                           DIR/apt/sources.list
#   debian_mirror        -> prints the system's Debian mirror URI

apt_private() {
	mkdir -p "$1/apt/lists/partial" "$1/apt/archives/partial"
	: > "$1/apt/sources.list"
	_d=$(readlink -f "$1/apt")
	apt_opts="-o Dir::Etc::sourcelist=$_d/sources.list -o Dir::Etc::sourceparts=- \
 -o Dir::State::Lists=$_d/lists -o Dir::Cache::Archives=$_d/archives \
 -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Get::List-Cleanup=0"
}

debian_mirror() {
	for _f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
		[ -f "$_f" ] || continue
		_u=$(sed -n 's/^URIs: *\([^ ]*\/debian\)\/*$/\1/p; s/^deb  *\(http[^ ]*\/debian\)\/* .*/\1/p' \
			"$_f" | head -n 1)
		if [ -n "$_u" ]; then
			echo "$_u"
			return 0
		fi
	done
	echo http://deb.debian.org/debian
}
