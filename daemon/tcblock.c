// SPDX-License-Identifier: GPL-2.0-only
/*
 * --tc-hook block (tcblock.h): tc_esp_out as one TC filter on one shared
 * filter block, which every peer's ingress qdisc binds (tc-block(8)'s
 * "ingress_block").  A qdisc with a block of its own costs a walk of
 * every other block on the machine (flow_indr_dev_setup_offload, for a
 * device without offload such as veth); a shared one is bound once.
 * Through rtnetlink directly: libbpf's bpf_tc_* names a device, and a
 * shared block's filters are reached by its index only.
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include "netdev.h"
#include "tcblock.h"

#define FILTER_PRIO	1
#define FILTER_HANDLE	1

/* The kernel's answer to msg (an ack, or what parse takes): 0 or -errno. */
static int transact(struct nl_msg *msg, nl_recvmsg_msg_cb_t parse, void *arg)
{
	struct nl_sock *sk = netdev_nl_open();
	int ret;

	if (!sk) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	if (parse)
		nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, parse, arg);
	ret = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (ret >= 0)
		ret = parse ? nl_recvmsgs_default(sk) : nl_wait_for_ack(sk);
	nl_socket_free(sk);
	if (ret >= 0)
		return 0;
	/* libnl's codes, back to the kernel's errno for the callers. */
	switch (-ret) {
	case NLE_EXIST: return -EEXIST;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_NODEV: return -ENODEV;
	case NLE_PERM: return -EPERM;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_OPNOTSUPP: return -EOPNOTSUPP;
	default: return -EINVAL;
	}
}

static struct nl_msg *tc_msg(int type, int flags, const struct tcmsg *t)
{
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);

	if (msg && nlmsg_append(msg, (void *)t, sizeof(*t), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

int tcblock_bind(int ifindex, __u32 block)
{
	struct tcmsg t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex,
			   .tcm_parent = TC_H_INGRESS, .tcm_handle = TC_H_MAKE(TC_H_INGRESS, 0) };
	struct nl_msg *msg = tc_msg(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE |
				    NLM_F_EXCL, &t);

	if (!msg)
		return -ENOMEM;
	if (nla_put_string(msg, TCA_KIND, "ingress") ||
	    nla_put_u32(msg, TCA_INGRESS_BLOCK, block)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return transact(msg, NULL, NULL);
}

int tcblock_filter(__u32 block, int prog_fd, const char *name)
{
	struct tcmsg t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = TCM_IFINDEX_MAGIC_BLOCK,
			   .tcm_block_index = block, .tcm_handle = FILTER_HANDLE,
			   .tcm_info = TC_H_MAKE(FILTER_PRIO << 16, htons(ETH_P_ALL)) };
	/* Without NLM_F_EXCL: a filter there (an older agent's) has its program replaced. */
	struct nl_msg *msg = tc_msg(RTM_NEWTFILTER, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, &t);
	struct nlattr *opt;

	if (!msg)
		return -ENOMEM;
	if (nla_put_string(msg, TCA_KIND, "bpf") || !(opt = nla_nest_start(msg, TCA_OPTIONS)) ||
	    nla_put_u32(msg, TCA_BPF_FD, prog_fd) || nla_put_string(msg, TCA_BPF_NAME, name) ||
	    nla_put_u32(msg, TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nla_nest_end(msg, opt);
	return transact(msg, NULL, NULL);
}

static int qdisc_block(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[TCA_MAX + 1];
	__u32 *block = arg;

	if (nlmsg_parse(nlmsg_hdr(msg), sizeof(struct tcmsg), tb, TCA_MAX, NULL) == 0 &&
	    tb[TCA_KIND] && !strcmp(nla_get_string(tb[TCA_KIND]), "ingress") &&
	    tb[TCA_INGRESS_BLOCK])
		*block = nla_get_u32(tb[TCA_INGRESS_BLOCK]);
	return NL_OK;
}

__u32 tcblock_bound(int ifindex)
{
	struct tcmsg t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex,
			   .tcm_handle = TC_H_MAKE(TC_H_INGRESS, 0) };
	/* NLM_F_ECHO: a get's answer is a notification, sent (6.9 on) only if asked for. */
	struct nl_msg *msg = tc_msg(RTM_GETQDISC, NLM_F_REQUEST | NLM_F_ECHO, &t);
	__u32 block = 0;

	if (!msg || transact(msg, qdisc_block, &block))
		return 0;
	return block;
}

static int filter_prog(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[TCA_MAX + 1], *opt[TCA_BPF_MAX + 1];
	__u32 *id = arg;

	if (nlmsg_parse(nlmsg_hdr(msg), sizeof(struct tcmsg), tb, TCA_MAX, NULL) == 0 &&
	    tb[TCA_OPTIONS] && !nla_parse_nested(opt, TCA_BPF_MAX, tb[TCA_OPTIONS], NULL) &&
	    opt[TCA_BPF_ID])
		*id = nla_get_u32(opt[TCA_BPF_ID]);
	return NL_OK;
}

__u32 tcblock_prog(__u32 block)
{
	struct tcmsg t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = TCM_IFINDEX_MAGIC_BLOCK,
			   .tcm_block_index = block, .tcm_handle = FILTER_HANDLE,
			   .tcm_info = TC_H_MAKE(FILTER_PRIO << 16, htons(ETH_P_ALL)) };
	struct nl_msg *msg = tc_msg(RTM_GETTFILTER, NLM_F_REQUEST, &t);
	__u32 id = 0;

	if (!msg)
		return 0;
	if (nla_put_string(msg, TCA_KIND, "bpf")) {
		nlmsg_free(msg);
		return 0;
	}
	return transact(msg, filter_prog, &id) ? 0 : id;
}
