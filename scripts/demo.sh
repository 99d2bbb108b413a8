#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The NetBSD ipsecif(4) page's picture, live, with ipsecifctl where the
# page has ifconfig:
#
#   Host_X 10.100.0.2 -- wm1 10.100.0.1 [NetBSD_A] wm0 192.168.0.1
#                                          ipsec0 172.16.100.1 == tunnel ==
#   Host_Y 10.200.0.2 -- wm1 10.200.0.1 [NetBSD_B] wm0 192.168.0.2
#                                          ipsec0 172.16.200.1
#
# SUITE=chacha20-poly1305 (default) | aes-gcm-16 | aes-cbc (with hmac-sha2-256)
# KEEP=1 leaves it all running and says how to get in.
set -euo pipefail

B=$(cd "$(dirname "$0")/.." && pwd)/build
SUITE=${SUITE:-chacha20-poly1305}
KEEP=${KEEP:-0}
ID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
X=ipsecif-demo-$ID-hostx A=ipsecif-demo-$ID-a B_NS=ipsecif-demo-$ID-b Y=ipsecif-demo-$ID-hosty
BPFFS=/run/ipsecif/bpf
MOUNTED=0

hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
run() {	# show the command as a person would type it, then run it
	local ns=$1 cmd=${2##*/}
	shift 2
	printf '  %s# %s %s\n' "${ns##*-}" "$cmd" "$*"
	ip netns exec "$ns" "$([ "$cmd" = ipsecifctl ] || [ "$cmd" = ipsecif-agent ] && echo "$B/$cmd" || echo "$cmd")" "$@"
}

cleanup() {
	[ "$KEEP" = 1 ] && return
	for ns in $A $B_NS; do
		ip netns exec "$ns" "$B/ipsecif-agent" stop --flush >/dev/null 2>&1 || true
	done
	sleep 1
	for ns in $X $A $B_NS $Y; do ip netns del "$ns" 2>/dev/null || true; done
	if [ "$MOUNTED" = 1 ]; then
		umount "$BPFFS" 2>/dev/null || true
		rmdir "$BPFFS" /run/ipsecif 2>/dev/null || true
	fi
}
trap cleanup EXIT

case $SUITE in
chacha20-poly1305) ENC="-E chacha20-poly1305"; KLEN=36; AUTH= ;;
aes-gcm-16) ENC="-E aes-gcm-16"; KLEN=20; AUTH= ;;
aes-cbc) ENC="-E aes-cbc"; KLEN=16; AUTH="-A hmac-sha2-256 0x$(hex 32)" ;;
*) echo "demo: SUITE is chacha20-poly1305, aes-gcm-16 or aes-cbc" >&2; exit 2 ;;
esac
KEY_AB=0x$(hex $KLEN) KEY_BA=0x$(hex $KLEN)
AUTH_AB=$AUTH AUTH_BA=${AUTH:+-A hmac-sha2-256 0x$(hex 32)}

# The agents pin under /run: a bpffs every "ip netns exec" shell sees.
mkdir -p "$BPFFS"
if [ "$(stat -f -c %T "$BPFFS")" != bpf_fs ]; then
	mount -t bpf bpf "$BPFFS"
	MOUNTED=1
fi

say "Four hosts in network namespaces, wired as the page draws them"
for ns in $X $A $B_NS $Y; do ip netns add "$ns"; nsx "$ns" ip link set lo up; done
ip -n "$A" link add wm0 type veth peer name wm0 netns "$B_NS"
ip -n "$X" link add eth0 type veth peer name wm1 netns "$A"
ip -n "$Y" link add eth0 type veth peer name wm1 netns "$B_NS"
for h in "$X 10.100.0.2 10.100.0.1" "$Y 10.200.0.2 10.200.0.1"; do
	set -- $h
	nsx "$1" ip addr add "$2/24" dev eth0
	nsx "$1" ip link set eth0 up
	nsx "$1" ip route add default via "$3"
done

gateway() {	# ns wm0 peer_wm0 wm1 me peer far_lan spi_out spi_in key_out key_in auth_out auth_in
	local g=$1
	say "${g##*-}: as on the page, ipsecifctl where it has ifconfig"
	nsx "$g" sysctl -qw net.ipv4.ip_forward=1
	run "$g" ip addr add "$2/24" dev wm0
	nsx "$g" ip link set wm0 up
	run "$g" "$B/ipsecif-agent" start
	run "$g" "$B/ipsecifctl" ipsec0 create
	run "$g" "$B/ipsecifctl" ipsec0 tunnel "$2" "$3"
	run "$g" "$B/ipsecifctl" ipsec0 inet "$5/32" "$6"
	printf '  %s# ipsecifctl setkey -c   (%s)\n' "${g##*-}" "$SUITE"
	nsx "$g" "$B/ipsecifctl" setkey -c <<-SETKEY
		add $2 $3 esp $8 -m tunnel -u 1 $ENC ${10} ${12};
		add $3 $2 esp $9 -m tunnel -u 1 $ENC ${11} ${13};
	SETKEY
	run "$g" ip addr add "$4/24" dev wm1
	nsx "$g" ip link set wm1 up
	run "$g" ip route add "$7" dev ipsec0
}
gateway "$A" 192.168.0.1 192.168.0.2 10.100.0.1 172.16.100.1 172.16.200.1 10.200.0.0/24 \
	4096 8192 "$KEY_AB" "$KEY_BA" "$AUTH_AB" "$AUTH_BA"
gateway "$B_NS" 192.168.0.2 192.168.0.1 10.200.0.1 172.16.200.1 172.16.100.1 10.100.0.0/24 \
	8192 4096 "$KEY_BA" "$KEY_AB" "$AUTH_BA" "$AUTH_AB"

say "NetBSD_A's interface, as ipsecifctl shows it (and as JSON)"
run "$A" "$B/ipsecifctl" ipsec0
run "$A" "$B/ipsecifctl" -j

say "Host_X pings Host_Y through the tunnel"
run "$X" ping -c 3 -i 0.2 10.200.0.2

say "Host_X sends Host_Y 20 MB over TCP"
nsx "$Y" /usr/bin/python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.200.0.2", 5001)); s.listen(1); print("ready", flush=True)
c, _ = s.accept(); n = 0
while True:
    b = c.recv(1 << 16)
    if not b: break
    n += len(b)
print(n, flush=True)' > "/tmp/ipsecif-demo-$ID.out" &
SRV=$!
for _ in $(seq 50); do grep -q ready "/tmp/ipsecif-demo-$ID.out" 2>/dev/null && break; sleep 0.1; done
START=$(date +%s.%N)
nsx "$X" /usr/bin/python3 -c '
import socket
c = socket.create_connection(("10.200.0.2", 5001)); b = bytes(65536)
for _ in range(305): c.sendall(b)
c.close()'
wait $SRV
END=$(date +%s.%N)
GOT=$(tail -n 1 "/tmp/ipsecif-demo-$ID.out")
rm -f "/tmp/ipsecif-demo-$ID.out"
awk -v n="$GOT" -v t0="$START" -v t1="$END" 'BEGIN { printf "  %d bytes received in %.2f s\n", n, t1 - t0 }'

INO=$(nsx "$B_NS" stat -L -c %i /proc/self/ns/net)
say "NetBSD_B's interface, with its SAs and counters (ifconfig's view)"
run "$B_NS" "$B/ipsecifctl" ipsec0
say "NetBSD_B's SAs; its inbound SA map, and the SAs' counters in their slots, as bpftool dumps them"
run "$B_NS" "$B/ipsecifctl" setkey -D
run "$B_NS" bpftool map dump pinned "$BPFFS/net-$INO/sa_in"
# sa_ctr is an array of 16,384 slots: only those an SA holds (id not 0).
printf '  %s# %s\n' b "bpftool -j map dump pinned $BPFFS/net-$INO/sa_ctr | (the slots whose id is not 0)"
nsx "$B_NS" bpftool -j map dump pinned "$BPFFS/net-$INO/sa_ctr" | /usr/bin/python3 -c '
import json, sys
held = [e.get("formatted", e) for e in json.load(sys.stdin)]
print(json.dumps([e for e in held if e["value"]["id"]], indent=4))'

if [ "$KEEP" = 1 ]; then
	say "Left running.  To look around:"
	for ns in $X $A $B_NS $Y; do echo "  ip netns exec $ns bash"; done
	echo "  (tear down: ip netns exec NS $B/ipsecif-agent stop --flush, then ip netns del NS)"
fi
