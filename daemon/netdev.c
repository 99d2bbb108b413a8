// SPDX-License-Identifier: GPL-2.0-only
/* ipsecN's veth pair through libnl-route-3, ethtool and sysctl (netdev.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <netlink/netlink.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include "errmsg.h"
#include "netdev.h"

static struct nl_sock *nl_open(void)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (sk && nl_connect(sk, NETLINK_ROUTE)) {
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

int netdev_peer_name(const char *name, char *peer, size_t len)
{
	if (strlen(name) + 2 > IFNAMSIZ || (size_t)snprintf(peer, len, "%sp", name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int sysctl_set(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* ethtool: a legacy value command (ETHTOOL_S*) on dev. */
static int ethtool_set(const char *dev, __u32 cmd, __u32 value)
{
	struct ethtool_value ev = { .cmd = cmd, .data = value };
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	ifr.ifr_data = (void *)&ev;
	if (ioctl(fd, SIOCETHTOOL, &ifr))
		ret = -errno;
	close(fd);
	return ret;
}

static int link_change(struct nl_sock *sk, const char *name, unsigned int set_flags,
		       unsigned int clear_flags, int mtu)
{
	struct rtnl_link *old = NULL, *chg = NULL;
	int ret;

	ret = rtnl_link_get_kernel(sk, 0, name, &old);
	if (ret)
		return -ENODEV;
	chg = rtnl_link_alloc();
	if (!chg) {
		rtnl_link_put(old);
		return -ENOMEM;
	}
	if (set_flags)
		rtnl_link_set_flags(chg, set_flags);
	if (clear_flags)
		rtnl_link_unset_flags(chg, clear_flags);
	if (mtu)
		rtnl_link_set_mtu(chg, mtu);
	ret = rtnl_link_change(sk, old, chg, 0);
	rtnl_link_put(chg);
	rtnl_link_put(old);
	return ret ? -EINVAL : 0;
}

int netdev_create(const char *name, int mtu, char *err, size_t errlen)
{
	struct rtnl_link *link = NULL, *peer;
	struct nl_sock *sk = nl_open();
	char pname[IFNAMSIZ], path[160];
	int ret;

	if (!sk)
		return errmsg(err, errlen, -ENOMEM, "netlink: cannot connect");
	ret = netdev_peer_name(name, pname, sizeof(pname));
	if (ret) {
		errmsg(err, errlen, ret, "'%s': an ipsecif name is 1 to %d characters "
		       "(its veth peer adds a 'p')", name, IFNAMSIZ - 2);
		goto out;
	}
	link = rtnl_link_veth_alloc();
	if (!link) {
		ret = errmsg(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	rtnl_link_set_name(link, name);
	rtnl_link_set_mtu(link, mtu);
	peer = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(peer, pname);
	rtnl_link_put(peer);
	ret = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
	if (ret) {
		ret = errmsg(err, errlen, ret == -NLE_EXIST ? -EEXIST : -EINVAL,
			     "%s: creating the device: %s", name, nl_geterror(ret));
		goto out;
	}
	/* The data path's needs (docs/DATAPATH.md): set before the links go up. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/addr_gen_mode", name);
	sysctl_set(path, "1");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/addr_gen_mode", pname);
	sysctl_set(path, "1");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", pname);
	ret = sysctl_set(path, "1");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/forwarding", pname);
	ret = ret ?: sysctl_set(path, "1");
	ret = ret ?: ethtool_set(name, ETHTOOL_STXCSUM, 0);
	ret = ret ?: ethtool_set(name, ETHTOOL_STSO, 0);
	ret = ret ?: ethtool_set(name, ETHTOOL_SGSO, 0);
	ret = ret ?: ethtool_set(name, ETHTOOL_SGRO, 1);
	ret = ret ?: link_change(sk, name, IFF_NOARP, 0, 0);
	ret = ret ?: link_change(sk, pname, IFF_UP, 0, 0);
	if (ret) {
		errmsg(err, errlen, ret, "%s: configuring the device: %s", name, strerror(-ret));
		netdev_destroy(name, NULL, 0);
	}
out:
	if (link)
		rtnl_link_put(link);
	nl_socket_free(sk);
	return ret;
}

int netdev_destroy(const char *name, char *err, size_t errlen)
{
	struct nl_sock *sk = nl_open();
	struct rtnl_link *link;
	int ret;

	if (!sk)
		return errmsg(err, errlen, -ENOMEM, "netlink: cannot connect");
	link = rtnl_link_alloc();
	rtnl_link_set_name(link, name);
	ret = rtnl_link_delete(sk, link);	/* the peer goes with it */
	rtnl_link_put(link);
	nl_socket_free(sk);
	if (ret)
		return errmsg(err, errlen, -ENODEV, "%s: deleting the device: %s", name,
			      nl_geterror(ret));
	return 0;
}

int netdev_set_mtu(const char *name, int mtu, char *err, size_t errlen)
{
	struct nl_sock *sk = nl_open();
	int ret;

	if (!sk)
		return errmsg(err, errlen, -ENOMEM, "netlink: cannot connect");
	ret = link_change(sk, name, 0, 0, mtu);
	nl_socket_free(sk);
	return ret ? errmsg(err, errlen, ret, "%s: mtu %d: %s", name, mtu, strerror(-ret)) : 0;
}

int netdev_set_up(const char *name, bool up, char *err, size_t errlen)
{
	struct nl_sock *sk = nl_open();
	int ret;

	if (!sk)
		return errmsg(err, errlen, -ENOMEM, "netlink: cannot connect");
	ret = link_change(sk, name, up ? IFF_UP : 0, up ? 0 : IFF_UP, 0);
	nl_socket_free(sk);
	return ret ? errmsg(err, errlen, ret, "%s: %s: %s", name, up ? "up" : "down",
			    strerror(-ret)) : 0;
}

/*
 * RTM_NEWADDR built by hand: libnl's rtnl_addr_set_peer() takes IPv4
 * peers only, and an IPv6 "inet6 ADDR PEER" needs one too.  IFA_LOCAL is
 * our address, IFA_ADDRESS the peer's (or ours again without one), as
 * the kernel reads them (inet_rtm_newaddr, inet6_rtm_newaddr).
 */
int netdev_addr_add(const char *name, int family, const union ipsecif_addr *addr, int plen,
		    const union ipsecif_addr *peer, char *err, size_t errlen)
{
	struct nl_sock *sk = nl_open();
	struct ifaddrmsg ifa = {
		.ifa_family = family, .ifa_prefixlen = plen,
		.ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0,
		.ifa_index = if_nametoindex(name),
	};
	int alen = family == AF_INET ? 4 : 16, ret;
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWADDR, NLM_F_CREATE);

	if (!sk || !msg) {
		ret = errmsg(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	if (nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO) ||
	    nla_put(msg, IFA_LOCAL, alen, addr) || nla_put(msg, IFA_ADDRESS, alen, peer ?: addr)) {
		ret = errmsg(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	ret = nl_send_auto(sk, msg);
	if (ret >= 0)
		ret = nl_wait_for_ack(sk);
	if (ret < 0)
		ret = errmsg(err, errlen, -EINVAL, "%s: adding the address: %s", name,
			     nl_geterror(ret));
	else
		ret = 0;
out:
	if (msg)
		nlmsg_free(msg);
	if (sk)
		nl_socket_free(sk);
	return ret;
}

int netdev_info(const char *name, int *ifindex, __u8 mac[6])
{
	struct nl_sock *sk = nl_open();
	struct rtnl_link *link = NULL;
	struct nl_addr *ll;
	int ret;

	if (!sk)
		return -ENOMEM;
	ret = rtnl_link_get_kernel(sk, 0, name, &link);
	nl_socket_free(sk);
	if (ret)
		return -ENODEV;
	*ifindex = rtnl_link_get_ifindex(link);
	ll = rtnl_link_get_addr(link);
	if (ll && nl_addr_get_len(ll) == 6)
		memcpy(mac, nl_addr_get_binary_addr(ll), 6);
	rtnl_link_put(link);
	return 0;
}
