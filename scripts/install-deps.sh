#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Install the Debian packages ipsecif needs to build and test.  A no-op
# when they are all present; otherwise one `apt-get update` and one
# install, without recommends (those pull in whole kernels).
set -eu

PKGS="
make gcc pkg-config
clang-16 llvm-16 lld-16 libclang-rt-16-dev
libbpf-dev bpftool libelf-dev zlib1g-dev
libnl-3-dev libnl-route-3-dev libnl-xfrm-3-dev
libssl-dev libxdp-dev
iproute2 iputils-ping kmod ethtool
python3 python3-pytest python3-scapy python3-cryptography python3-prometheus-client
mandoc
user-mode-linux tshark tcpdump nftables strace
dpkg-dev debhelper strongswan-charon strongswan-swanctl libcharon-extra-plugins
libstrongswan-extra-plugins libstrongswan-standard-plugins
iperf3 wireguard-go wireguard-tools python3-matplotlib util-linux bird2
systemd
xdp-tools
"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root)" >&2
	exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
