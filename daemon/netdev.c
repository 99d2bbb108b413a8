// SPDX-License-Identifier: GPL-2.0-only
/* ipsecN's veth pair through libnl-route-3, ethtool and sysctl (netdev.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <netlink/netlink.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include "errmsg.h"
#include "netdev.h"

struct nl_sock *netdev_nl_open(void)
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

/*
 * A veth pair name and pname: mtu (0: the kernel's) for name, peer_mtu for
 * pname, queues (0: one) rx and tx queues each end.
 */
static int veth_add(struct nl_sock *sk, const char *name, const char *pname, int mtu,
		    int peer_mtu, int queues, char *err, size_t errlen)
{
	struct rtnl_link *link = rtnl_link_veth_alloc(), *peer;
	int ret;

	if (!link)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	rtnl_link_set_name(link, name);
	if (mtu)
		rtnl_link_set_mtu(link, mtu);
	peer = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(peer, pname);
	if (peer_mtu)
		rtnl_link_set_mtu(peer, peer_mtu);
	if (queues) {
		rtnl_link_set_num_rx_queues(link, queues);
		rtnl_link_set_num_tx_queues(link, queues);
		rtnl_link_set_num_rx_queues(peer, queues);
		rtnl_link_set_num_tx_queues(peer, queues);
	}
	rtnl_link_put(peer);
	ret = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(link);
	if (ret)
		return errmsg(err, errlen, ret == -NLE_EXIST ? -EEXIST : -EINVAL,
			      "%s: creating the device: %s", name, nl_geterror(ret));
	return 0;
}

/* A device made and then configured (ret): undone if that failed, 0 or -errno. */
static int configured(const char *name, int ret, char *err, size_t errlen)
{
	if (ret) {
		errmsg(err, errlen, ret, "%s: configuring the device: %s", name, strerror(-ret));
		netdev_destroy(name, NULL, 0);
	}
	return ret;
}

int netdev_create(const char *name, int mtu, char *err, size_t errlen)
{
	struct nl_sock *sk = netdev_nl_open();
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
	ret = veth_add(sk, name, pname, mtu, 0, 0, err, errlen);
	if (ret)
		goto out;
	/* The data path's needs (docs/DATAPATH.md): set before the links go up. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/addr_gen_mode", name);
	sysctl_set(path, "1");
	/*
	 * The peer needs no IPv6 of its own (bpf_fib_lookup reads only its
	 * forwarding switch, set below): without it, no ff00::/8 route for
	 * it, and every MTU change and device added walks one route fewer
	 * each (rt6_mtu_change, fib6_add_rt2node: thousands of interfaces).
	 */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", pname);
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
	ret = configured(name, ret, err, errlen);
out:
	nl_socket_free(sk);
	return ret;
}

int netdev_create_pair(const char *name, const char *pname, int mtu, int queues, char *err,
		       size_t errlen)
{
	struct nl_sock *sk = netdev_nl_open();
	const char *dev[2] = { name, pname };
	char path[160];
	int ret, k;

	if (!sk)
		return errmsg(err, errlen, -ENOMEM, "netlink: cannot connect");
	ret = veth_add(sk, name, pname, mtu, mtu, queues, err, errlen);
	if (ret)
		goto out;
	/* Nothing but what BPF puts on the link: no IPv6 of its own, no ARP. */
	for (k = 0; k < 2 && !ret; k++) {
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", dev[k]);
		sysctl_set(path, "1");
		ret = link_change(sk, dev[k], IFF_NOARP | IFF_UP, 0, 0);
	}
	ret = configured(name, ret, err, errlen);
out:
	nl_socket_free(sk);
	return ret;
}

int netdev_destroy(const char *name, char *err, size_t errlen)
{
	struct nl_sock *sk = netdev_nl_open();
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
	struct nl_sock *sk = netdev_nl_open();
	int ret;

	if (!sk)
		return errmsg(err, errlen, -ENOMEM, "netlink: cannot connect");
	ret = link_change(sk, name, 0, 0, mtu);
	nl_socket_free(sk);
	return ret ? errmsg(err, errlen, ret, "%s: mtu %d: %s", name, mtu, strerror(-ret)) : 0;
}

int netdev_set_up(const char *name, bool up, char *err, size_t errlen)
{
	struct nl_sock *sk = netdev_nl_open();
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
	struct nl_sock *sk = netdev_nl_open();
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
	struct nl_sock *sk = netdev_nl_open();
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

/*
 * One rtnetlink request on a socket of its own (strict checking: a dump
 * filtered by the kernel, 5.0 and later), each reply message handed to
 * fn until the dump ends or fn returns nonzero.  fn's last return, or
 * -errno.
 */
static int nl_request(struct nlmsghdr *req, int (*fn)(const struct nlmsghdr *h, void *ctx),
		      void *ctx)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), one = 1, ret = 0;
	size_t cap = 32768;
	char *buf = malloc(cap);
	bool done = false;

	if (fd < 0 || !buf) {
		ret = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
	req->nlmsg_seq = 1;
	if (sendto(fd, req, req->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto out;
	}
	while (!done && !ret) {
		ssize_t n = recv(fd, buf, cap, 0);
		struct nlmsghdr *h;

		if (n < 0) {
			ret = -errno;
			break;
		}
		for (h = (struct nlmsghdr *)buf; !ret && NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				ret = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
				done = true;
				break;
			}
			ret = fn ? fn(h, ctx) : 0;
			if (!(h->nlmsg_flags & NLM_F_MULTI))
				done = true;
		}
	}
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

struct addr_q {
	int family;
	const union ipsecif_addr *addr;
	int ifindex;		/* found */
};

static int on_route(const struct nlmsghdr *h, void *ctx)
{
	struct addr_q *q = ctx;
	const struct rtmsg *r = NLMSG_DATA(h);
	int len = RTM_PAYLOAD(h), alen = q->family == AF_INET ? 4 : 16, oif = 0;
	const struct rtattr *at;
	bool dst = false;

	if (h->nlmsg_type != RTM_NEWROUTE || r->rtm_type != RTN_LOCAL ||
	    r->rtm_dst_len != alen * 8)
		return 0;
	for (at = RTM_RTA(r); RTA_OK(at, len); at = RTA_NEXT(at, len)) {
		if (at->rta_type == RTA_OIF && RTA_PAYLOAD(at) == 4)
			memcpy(&oif, RTA_DATA(at), 4);
		if (at->rta_type == RTA_DST && RTA_PAYLOAD(at) == (unsigned int)alen)
			dst = !memcmp(RTA_DATA(at), q->addr, alen);
	}
	if (dst)
		q->ifindex = oif;
	return 0;
}

int netdev_addr_dev(int family, const union ipsecif_addr *addr)
{
	struct {
		struct nlmsghdr h;
		struct rtmsg r;
		struct rtattr a;
		__u8 dst[16];
	} req = {
		.h = { .nlmsg_type = RTM_GETROUTE, .nlmsg_flags = NLM_F_REQUEST },
		.r = { .rtm_family = family, .rtm_flags = RTM_F_FIB_MATCH },
		.a = { .rta_type = RTA_DST },
	};
	struct addr_q q = { family, addr, 0 };
	int alen = family == AF_INET ? 4 : 16;

	req.r.rtm_dst_len = alen * 8;
	req.a.rta_len = RTA_LENGTH(alen);
	memcpy(req.dst, addr, alen);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.r)) + RTA_SPACE(alen);
	return nl_request(&req.h, on_route, &q) ? 0 : q.ifindex;
}

struct addrs_q {
	int family, ifindex, max, n;
	union ipsecif_addr *out;
};

static int on_addr(const struct nlmsghdr *h, void *ctx)
{
	struct addrs_q *q = ctx;
	const struct ifaddrmsg *m = NLMSG_DATA(h);
	int len = IFA_PAYLOAD(h), alen = q->family == AF_INET ? 4 : 16;
	const struct rtattr *at, *local = NULL, *addr = NULL;

	if (h->nlmsg_type != RTM_NEWADDR || m->ifa_family != q->family ||
	    (int)m->ifa_index != q->ifindex)
		return 0;
	for (at = IFA_RTA(m); RTA_OK(at, len); at = RTA_NEXT(at, len)) {
		if (RTA_PAYLOAD(at) != (unsigned int)alen)
			continue;
		if (at->rta_type == IFA_LOCAL)
			local = at;
		else if (at->rta_type == IFA_ADDRESS)
			addr = at;
	}
	/* IFA_LOCAL is the address itself, IFA_ADDRESS a peer's when it has one. */
	at = local ?: addr;
	if (at && q->n < q->max) {
		memset(&q->out[q->n], 0, sizeof(q->out[q->n]));
		memcpy(&q->out[q->n], RTA_DATA(at), alen);
	}
	if (at)
		q->n++;
	return 0;
}

int netdev_dev_addrs(int ifindex, int family, union ipsecif_addr *out, int max)
{
	struct {
		struct nlmsghdr h;
		struct ifaddrmsg m;
	} req = {
		.h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)),
		       .nlmsg_type = RTM_GETADDR, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.m = { .ifa_family = family, .ifa_index = ifindex },
	};
	struct addrs_q q = { family, ifindex, max, 0, out };
	int ret = nl_request(&req.h, on_addr, &q);

	return ret ? ret : q.n;
}

/* ipsecif's device group while a flush deletes them ("ipsf"): no one else's, we trust. */
#define TEARDOWN_GROUP	0x69707366

void netdev_destroy_all(const char (*names)[IFNAMSIZ], size_t n)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
		struct rtattr a;
		__u32 group;
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_DELLINK,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK },
		.a = { .rta_len = RTA_LENGTH(sizeof(__u32)), .rta_type = IFLA_GROUP },
		.group = TEARDOWN_GROUP,
	};
	struct nl_sock *sk = netdev_nl_open();
	size_t i, grouped = 0;

	for (i = 0; sk && i < n; i++) {
		struct rtnl_link *old = NULL, *chg = rtnl_link_alloc();
		bool ok = chg && !rtnl_link_get_kernel(sk, 0, names[i], &old);

		if (ok) {
			rtnl_link_set_group(chg, TEARDOWN_GROUP);
			ok = !rtnl_link_change(sk, old, chg, 0);
		}
		if (old)
			rtnl_link_put(old);
		if (chg)
			rtnl_link_put(chg);
		grouped += ok;
		if (!ok)
			netdev_destroy(names[i], NULL, 0);
	}
	if (sk)
		nl_socket_free(sk);
	/* An ACK only: fn is never called.  Refused: each of them, then. */
	if (!grouped || !nl_request(&req.h, NULL, NULL))
		i = sk ? n : 0;
	else
		i = 0;
	for (; i < n; i++)
		netdev_destroy(names[i], NULL, 0);
}
