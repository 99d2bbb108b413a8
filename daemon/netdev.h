/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ipsecN as the kernel sees it: a veth pair made and configured through
 * libnl-route-3, ethtool and sysctl.  Each returns 0 or -errno with a
 * message in err.
 */
#ifndef IPSECIF_NETDEV_H
#define IPSECIF_NETDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>
#include <linux/types.h>
#include "ipsecif.h"

/* The peer of ipsecN: NAME with "p" appended (names are one shorter). */
int netdev_peer_name(const char *name, char *peer, size_t len);
struct nl_sock;
/* A libnl socket connected to rtnetlink, or NULL (nl_socket_free() it). */
struct nl_sock *netdev_nl_open(void);

/*
 * Create ipsecN and its peer, as the data path needs them (docs/DATAPATH.md):
 * no ARP, no checksum or segmentation offload, GRO on, no link-local IPv6
 * chatter, forwarding on the peer; both up.
 */
int netdev_create(const char *name, int mtu, char *err, size_t errlen);
/* A plain veth pair, up, mtu and queues rx and tx queues each end (the engine's link). */
int netdev_create_pair(const char *name, const char *pname, int mtu, int queues, char *err,
		       size_t errlen);
int netdev_destroy(const char *name, char *err, size_t errlen);
/*
 * The n devices of names destroyed at once: each put in a device group
 * of the agent's own, then the group deleted in one request, so that the
 * kernel unregisters them together (one RCU grace period for all, where
 * a delete each waits for one each).  Those it could not group, one by one.
 */
void netdev_destroy_all(const char (*names)[IFNAMSIZ], size_t n);
int netdev_set_mtu(const char *name, int mtu, char *err, size_t errlen);
int netdev_set_up(const char *name, bool up, char *err, size_t errlen);
int netdev_addr_add(const char *name, int family, const union ipsecif_addr *addr, int plen,
		    const union ipsecif_addr *peer, char *err, size_t errlen);
int netdev_info(const char *name, int *ifindex, __u8 mac[6]);
/*
 * The ifindex of the device holding local address addr, found by its
 * local route ("ip route get fibmatch"): one netlink round trip whatever
 * the number of devices.  0 when no local route of addr's own names one.
 */
int netdev_addr_dev(int family, const union ipsecif_addr *addr);
/*
 * Up to max of device ifindex's addresses of family, from a dump of that
 * device's alone: how many there are (more than max: only max filled), or -errno.
 */
int netdev_dev_addrs(int ifindex, int family, union ipsecif_addr *out, int max);

#endif /* IPSECIF_NETDEV_H */
