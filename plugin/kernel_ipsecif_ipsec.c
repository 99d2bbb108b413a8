// SPDX-License-Identifier: GPL-2.0-only
/*
 * kernel_ipsec_t on ipsecif-agent.  Each SA method is one CTL_REQ_SA
 * request on a connection of its own (charon calls from many threads;
 * the agent serves one at a time); a job keeps a CTL_REQ_EVENTS
 * subscription open and turns the agent's events into charon's acquire
 * and expire.
 *
 * Route-based (RFC 4301 §4.4.1 with one SPD entry per interface): an SA
 * serves the ipsecif interface with its reqid whose tunnel endpoints are
 * the SA's, so policies are the interface's; the plugin only checks that
 * such an interface is there when charon installs one.
 *
 * An agent restart is invisible: a request that finds no agent tries
 * again for retry_ms, and the subscription reconnects; the agent adopts
 * its SAs from its state file.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <daemon.h>
#include <processing/jobs/callback_job.h>
#include <threading/thread.h>

#include "agent.h"
#include "ctl.h"
#include "ipsecif_crypto.h"
#include "kernel_ipsecif_plugin.h"

typedef struct private_kernel_ipsecif_ipsec_t private_kernel_ipsecif_ipsec_t;

struct private_kernel_ipsecif_ipsec_t {
	kernel_ipsec_t public;
	/* On charon's bus: an IKE_SA's delete ends the holds of its reqids. */
	listener_t listener;
	/* How long a request waits for an agent to come (back), ms. */
	u_int retry_ms;
	/* How long a responder's new outbound SA waits while an older one works, ms. */
	u_int hold_ms;
	/* The event subscription, -1 while there is none. */
	int events_fd;
	/* An agent was there: its loss is worth a log line. */
	bool had_agent;
};

/* Everything the agent can answer within this; it never waits on anything. */
#define REQUEST_TIMEOUT_S	10

/* One request, its reply; a missing agent is waited for, up to retry_ms. */
static int exchange(private_kernel_ipsecif_ipsec_t *this, const void *msg, size_t len,
		    void *out, size_t outlen, size_t *got, int *status)
{
	struct timeval tv = { .tv_sec = REQUEST_TIMEOUT_S };
	char err[256];
	u_int waited = 0;
	int fd, ret;

	for (;;) {
		fd = agent_connect(err, sizeof(err));
		if (fd >= 0 || (fd != -ECONNREFUSED && fd != -ENOENT) || waited >= this->retry_ms)
			break;
		usleep(20 * 1000);
		waited += 20;
	}
	if (fd < 0 && err[0])
		DBG1(DBG_KNL, "ipsecif: %s", err);
	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ret = agent_transact(fd, msg, len, out, outlen, got, status);
	close(fd);
	return ret;
}

/*
 * One SA operation.  Returns SUCCESS, NOT_FOUND (no such SA) or FAILED,
 * having logged why, with what (e.g. "add SA") naming the call.
 */
static status_t sa_call(private_kernel_ipsecif_ipsec_t *this, const char *what,
			struct ctl_sa *sa, struct ctl_sa_reply *r)
{
	char msg[sizeof(struct ctl_hdr) + sizeof(*sa)];
	char reply[1024];
	size_t got = 0;
	int status = 0, ret;
	ssize_t n = ctl_encode_sa(sa, msg, sizeof(msg));

	ret = n < 0 ? (int)n : exchange(this, msg, n, reply, sizeof(reply) - 1, &got, &status);
	memwipe(msg, sizeof(msg));	/* an add's keys */
	if (ret) {
		DBG1(DBG_KNL, "ipsecif: %s: the agent: %s", what, strerror(-ret));
		return FAILED;
	}
	if (status) {
		reply[got] = 0;
		reply[strcspn(reply, "\n")] = 0;
		DBG1(DBG_KNL, "ipsecif: %s: %s", what, reply);
		return status == -ESRCH ? NOT_FOUND : FAILED;
	}
	if (got != sizeof(*r)) {
		DBG1(DBG_KNL, "ipsecif: %s: a %zu-byte reply, not %zu", what, got, sizeof(*r));
		return FAILED;
	}
	memcpy(r, reply, sizeof(*r));
	return SUCCESS;
}

/* Address and family of a host into the agent's form; FALSE for neither family. */
static bool addr_of(host_t *host, __u16 *family, union ipsecif_addr *addr)
{
	chunk_t a = host->get_address(host);

	memset(addr, 0, sizeof(*addr));
	*family = host->get_family(host);
	if ((*family != AF_INET || a.len != 4) && (*family != AF_INET6 || a.len != 16))
		return FALSE;
	memcpy(addr, a.ptr, a.len);
	return TRUE;
}

/* The SA an id names (spi, family, destination; RFC 4301 §4.1). */
static bool sa_id(kernel_ipsec_sa_id_t *id, struct ctl_sa *sa)
{
	union ipsecif_addr src;
	__u16 family;

	sa->spi = ntohl(id->spi);	/* charon keeps SPIs in network order */
	return addr_of(id->src, &family, &src) && addr_of(id->dst, &sa->family, &sa->dst) &&
	       family == sa->family && (sa->src = src, TRUE);
}

/* charon's transforms onto the data path's (include/ipsecif_crypto.h). */
static bool suite(kernel_ipsec_add_sa_t *data, struct ctl_sa *sa)
{
	switch (data->enc_alg) {
	case ENCR_AES_GCM_ICV16:		/* RFC 4106 */
		sa->enc = IPSECIF_ENC_AES_GCM16;
		return data->int_alg == AUTH_UNDEFINED;
	case ENCR_CHACHA20_POLY1305:		/* RFC 7634 */
		sa->enc = IPSECIF_ENC_CHACHA20_POLY1305;
		return data->int_alg == AUTH_UNDEFINED;
	case ENCR_AES_CBC:			/* RFC 3602 */
		sa->enc = IPSECIF_ENC_AES_CBC;
		break;
	default:
		return FALSE;
	}
	switch (data->int_alg) {
	case AUTH_HMAC_SHA2_256_128:		/* RFC 4868 */
		sa->auth = IPSECIF_AUTH_HMAC_SHA256_128;
		return TRUE;
	case AUTH_HMAC_SHA1_96:			/* RFC 2404 */
		sa->auth = IPSECIF_AUTH_HMAC_SHA1_96;
		return TRUE;
	default:
		return FALSE;	/* no encryption without integrity from IKE */
	}
}

METHOD(kernel_ipsec_t, get_features, kernel_feature_t, private_kernel_ipsecif_ipsec_t *this)
{
	return 0;
}

METHOD(kernel_ipsec_t, get_spi, status_t, private_kernel_ipsecif_ipsec_t *this,
       host_t *src, host_t *dst, uint8_t protocol, uint32_t *spi)
{
	struct ctl_sa sa = { .op = CTL_SA_GETSPI };
	struct ctl_sa_reply r;

	if (protocol != IPPROTO_ESP) {
		DBG1(DBG_KNL, "ipsecif: only ESP, not protocol %u", protocol);
		return NOT_SUPPORTED;
	}
	if (sa_call(this, "get SPI", &sa, &r) != SUCCESS)
		return FAILED;
	*spi = htonl(r.spi);
	return SUCCESS;
}

METHOD(kernel_ipsec_t, get_cpi, status_t, private_kernel_ipsecif_ipsec_t *this,
       host_t *src, host_t *dst, uint16_t *cpi)
{
	return NOT_SUPPORTED;	/* no IPComp in the data path */
}

METHOD(kernel_ipsec_t, add_sa, status_t, private_kernel_ipsecif_ipsec_t *this,
       kernel_ipsec_sa_id_t *id, kernel_ipsec_add_sa_t *data)
{
	struct ctl_sa sa = { .op = CTL_SA_ADD };
	struct ctl_sa_reply r;
	lifetime_cfg_t *lt = data->lifetime;
	status_t st;

	if (id->proto != IPPROTO_ESP || data->mode != MODE_TUNNEL ||
	    data->ipcomp != IPCOMP_NONE) {
		DBG1(DBG_KNL, "ipsecif: SA %.8x: only ESP in tunnel mode without IPComp",
		     ntohl(id->spi));
		return NOT_SUPPORTED;
	}
	if (!sa_id(id, &sa)) {
		DBG1(DBG_KNL, "ipsecif: SA %.8x: %H -> %H: one address family", ntohl(id->spi),
		     id->src, id->dst);
		return NOT_SUPPORTED;
	}
	if (!suite(data, &sa)) {
		DBG1(DBG_KNL, "ipsecif: SA %.8x: %N/%N is not in the data path "
		     "(AES-GCM-16, ChaCha20-Poly1305, AES-CBC with HMAC-SHA-256-128 or "
		     "HMAC-SHA1-96)", ntohl(id->spi), encryption_algorithm_names, data->enc_alg,
		     integrity_algorithm_names, data->int_alg);
		return NOT_SUPPORTED;
	}
	if (data->enc_key.len > sizeof(sa.enc_key) || data->int_key.len > sizeof(sa.auth_key))
		return FAILED;
	memcpy(sa.enc_key, data->enc_key.ptr, data->enc_key.len);
	sa.enc_key_len = data->enc_key.len;
	memcpy(sa.auth_key, data->int_key.ptr, data->int_key.len);
	sa.auth_key_len = data->int_key.len;
	sa.reqid = data->reqid;
	sa.replay = data->replay_window;
	/*
	 * An outbound SA of an exchange we answered (e.g. a make-before-break
	 * reauthentication's IKE_AUTH): the initiator installs its inbound SA
	 * only when our response arrives, so while an older SA can carry on
	 * the switch waits a little (a rekey's responder installs its
	 * outbound SA only at the DELETE, long after: no harm).
	 */
	if (!data->inbound && !data->initiator)
		sa.hold_ms = this->hold_ms;
	if (data->esn)
		sa.flags |= IPSECIF_SA_F_ESN;
	if (data->encap) {	/* RFC 3948: charon's IKE ports carry the ESP */
		sa.flags |= IPSECIF_SA_F_NATT;
		sa.sport = id->src->get_port(id->src);
		sa.dport = id->dst->get_port(id->dst);
	}
	/* Soft is when charon rekeys, hard when the SA dies (RFC 4301 §4.4.2.1). */
	sa.soft_bytes = lt->bytes.rekey;
	sa.hard_bytes = lt->bytes.life;
	sa.soft_packets = lt->packets.rekey;
	sa.hard_packets = lt->packets.life;
	sa.soft_time = lt->time.rekey;
	sa.hard_time = lt->time.life;
	st = sa_call(this, "add SA", &sa, &r);
	memwipe(&sa, sizeof(sa));
	if (st != SUCCESS)
		return st;
	if (!r.active) {
		/* Keyed but carrying nothing: say so, and give it back. */
		DBG1(DBG_KNL, "ipsecif: SA %.8x %H -> %H reqid %u: no ipsecif interface has "
		     "that reqid and these tunnel endpoints", ntohl(id->spi), id->src, id->dst,
		     data->reqid);
		sa.op = CTL_SA_DEL;
		sa_id(id, &sa);
		sa_call(this, "remove the SA again", &sa, &r);
		return FAILED;
	}
	DBG2(DBG_KNL, "ipsecif: added SA %.8x %H -> %H reqid %u, soft/hard %llu/%llu s",
	     ntohl(id->spi), id->src, id->dst, data->reqid, (unsigned long long)lt->time.rekey,
	     (unsigned long long)lt->time.life);
	return SUCCESS;
}

METHOD(kernel_ipsec_t, update_sa, status_t, private_kernel_ipsecif_ipsec_t *this,
       kernel_ipsec_sa_id_t *id, kernel_ipsec_update_sa_t *data)
{
	struct ctl_sa sa = { .op = CTL_SA_UPDATE };
	union ipsecif_addr src;
	struct ctl_sa_reply r;
	__u16 family;
	status_t st;

	if (!sa_id(id, &sa) || !addr_of(data->new_src, &family, &src) ||
	    !addr_of(data->new_dst, &sa.new_family, &sa.new_dst) || family != sa.new_family)
		return NOT_SUPPORTED;
	sa.new_src = src;
	if (data->new_encap) {
		sa.new_flags = IPSECIF_SA_F_NATT;
		sa.new_sport = data->new_src->get_port(data->new_src);
		sa.new_dport = data->new_dst->get_port(data->new_dst);
	}
	st = sa_call(this, "update SA", &sa, &r);
	if (st == SUCCESS && !r.active)
		DBG1(DBG_KNL, "ipsecif: SA %.8x now %H -> %H: no ipsecif interface has these "
		     "tunnel endpoints; it carries nothing", ntohl(id->spi), data->new_src,
		     data->new_dst);
	return st;
}

METHOD(kernel_ipsec_t, query_sa, status_t, private_kernel_ipsecif_ipsec_t *this,
       kernel_ipsec_sa_id_t *id, kernel_ipsec_query_sa_t *data, uint64_t *bytes,
       uint64_t *packets, time_t *time)
{
	struct ctl_sa sa = { .op = CTL_SA_QUERY };
	struct ctl_sa_reply r;
	status_t st;

	if (!sa_id(id, &sa))
		return NOT_SUPPORTED;
	st = sa_call(this, "query SA", &sa, &r);
	if (st != SUCCESS)
		return st;
	if (bytes)
		*bytes = r.bytes;
	if (packets)
		*packets = r.packets;
	if (time)	/* monotonic seconds of the last use, 0: never */
		*time = r.idle_ns == ~0ULL ? 0 : time_monotonic(NULL) - r.idle_ns / 1000000000ULL;
	return SUCCESS;
}

METHOD(kernel_ipsec_t, del_sa, status_t, private_kernel_ipsecif_ipsec_t *this,
       kernel_ipsec_sa_id_t *id, kernel_ipsec_del_sa_t *data)
{
	struct ctl_sa sa = { .op = CTL_SA_DEL };
	struct ctl_sa_reply r;

	if (!sa_id(id, &sa))
		return NOT_SUPPORTED;
	return sa_call(this, "delete SA", &sa, &r);
}

METHOD(kernel_ipsec_t, flush_sas, status_t, private_kernel_ipsecif_ipsec_t *this)
{
	struct ctl_sa sa = { .op = CTL_SA_FLUSH };
	struct ctl_sa_reply r;

	return sa_call(this, "flush SAs", &sa, &r);
}

/*
 * The interface's policies are the policies (ipsecif(4)): an IPsec policy
 * needs an interface with its reqid and a tunnel, the rest (pass and
 * drop shunts) has nothing to do in a route-based data path.
 */
METHOD(kernel_ipsec_t, add_policy, status_t, private_kernel_ipsecif_ipsec_t *this,
       kernel_ipsec_policy_id_t *id, kernel_ipsec_manage_policy_t *data)
{
	struct ctl_sa sa = { .op = CTL_SA_POLICY };
	struct ctl_sa_reply r;

	if (data->type != POLICY_IPSEC || id->dir != POLICY_OUT)
		return SUCCESS;
	sa.reqid = data->sa->reqid;
	if (sa_call(this, "policy", &sa, &r) != SUCCESS) {
		DBG1(DBG_KNL, "ipsecif: policy %R === %R: create an ipsecif interface with "
		     "reqid %u and its tunnel first", id->src_ts, id->dst_ts, sa.reqid);
		return FAILED;
	}
	return SUCCESS;
}

METHOD(kernel_ipsec_t, query_policy, status_t, private_kernel_ipsecif_ipsec_t *this,
       kernel_ipsec_policy_id_t *id, kernel_ipsec_query_policy_t *data, time_t *use_time)
{
	return NOT_SUPPORTED;	/* use times come with the SAs (query_sa) */
}

METHOD(kernel_ipsec_t, del_policy, status_t, private_kernel_ipsecif_ipsec_t *this,
       kernel_ipsec_policy_id_t *id, kernel_ipsec_manage_policy_t *data)
{
	return SUCCESS;		/* the interface keeps its policies */
}

METHOD(kernel_ipsec_t, flush_policies, status_t, private_kernel_ipsecif_ipsec_t *this)
{
	return SUCCESS;
}

/* Only what is routed into ipsecN is protected: IKE bypasses by itself. */
METHOD(kernel_ipsec_t, bypass_socket, bool, private_kernel_ipsecif_ipsec_t *this,
       int fd, int family)
{
	return TRUE;
}

/* xdp_esp_in takes ESP in UDP 4500 (RFC 3948) before any socket sees it. */
METHOD(kernel_ipsec_t, enable_udp_decap, bool, private_kernel_ipsecif_ipsec_t *this,
       int fd, int family, uint16_t port)
{
	if (port != 4500) {
		DBG1(DBG_KNL, "ipsecif: the data path takes ESP in UDP on port 4500 only, not %u",
		     port);
		return FALSE;
	}
	return TRUE;
}

/* One event from the agent into charon. */
static void raise_event(const struct ctl_event *ev)
{
	kernel_acquire_data_t acq = {};
	host_t *dst;

	switch (ev->type) {
	case IPSECIF_EV_ACQUIRE:
		DBG2(DBG_KNL, "ipsecif: acquire for reqid %u", ev->reqid);
		charon->kernel->acquire(charon->kernel, ev->reqid, &acq);
		break;
	case IPSECIF_EV_SOFT_EXPIRE:
	case IPSECIF_EV_HARD_EXPIRE:
		dst = host_create_from_chunk(ev->family, chunk_create((u_char *)&ev->dst,
				ev->family == AF_INET ? 4 : 16), 0);
		if (!dst)
			break;
		charon->kernel->expire(charon->kernel, IPPROTO_ESP, htonl(ev->spi), dst,
				       ev->type == IPSECIF_EV_HARD_EXPIRE);
		dst->destroy(dst);
		break;
	}
}

/* Subscribe; the connection, or -errno. */
static int subscribe(void)
{
	struct ctl_hdr h = { .magic = CTL_MAGIC, .version = CTL_VERSION, .type = CTL_REQ_EVENTS };
	char reply[256];
	size_t got;
	int fd = agent_connect(NULL, 0), status = 0, ret;

	if (fd < 0)
		return fd;
	ret = agent_transact(fd, &h, sizeof(h), reply, sizeof(reply), &got, &status);
	if (!ret && status)
		ret = status;
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * The event job: subscribe, then read events until the agent goes away,
 * then again.  Blocking reads are where charon may cancel the thread.
 */
static job_requeue_t watch_events(private_kernel_ipsecif_ipsec_t *this)
{
	struct ctl_hdr h;
	struct ctl_event ev;
	bool old;
	int fd, ret;

	fd = subscribe();
	if (fd < 0) {
		old = thread_cancelability(TRUE);
		usleep(50 * 1000);
		thread_cancelability(old);
		return JOB_REQUEUE_FAIR;
	}
	this->events_fd = fd;
	DBG1(DBG_KNL, "ipsecif: %s ipsecif-agent's events", this->had_agent ?
	     "subscribed again to" : "subscribed to");
	this->had_agent = TRUE;
	for (;;) {
		old = thread_cancelability(TRUE);
		ret = agent_recv_all(fd, &h, sizeof(h));
		thread_cancelability(old);
		if (ret || h.magic != CTL_MAGIC || h.type != CTL_EVENT || h.len != sizeof(ev))
			break;
		old = thread_cancelability(TRUE);
		ret = agent_recv_all(fd, &ev, sizeof(ev));
		thread_cancelability(old);
		if (ret)
			break;
		raise_event(&ev);
	}
	DBG1(DBG_KNL, "ipsecif: lost ipsecif-agent's events (%s); reconnecting",
	     ret ? strerror(-ret) : "a malformed message");
	this->events_fd = -1;
	close(fd);
	return JOB_REQUEUE_FAIR;
}

/*
 * An IKE_SA being deleted (RFC 7296 §1.4.1): as the responder, charon
 * answers the DELETE first and removes the IKE_SA's CHILD_SAs after,
 * while the initiator removes its inbound SAs as the answer arrives.  A
 * make-before-break reauthentication's initiator has installed the new
 * CHILD_SAs before it deletes the old IKE_SA, so the new outbound SAs
 * held back since IKE_AUTH (hold_ms) take over now, before the answer
 * leaves, and nothing is sent on an SA the peer no longer has.
 */
METHOD(listener_t, ike_state_change, bool, private_kernel_ipsecif_ipsec_t *this,
       ike_sa_t *ike_sa, ike_sa_state_t state)
{
	struct ctl_sa sa = { .op = CTL_SA_RELEASE };
	struct ctl_sa_reply r;
	enumerator_t *e;
	child_sa_t *child;

	if (state != IKE_DELETING)
		return TRUE;
	e = ike_sa->create_child_sa_enumerator(ike_sa);
	while (e->enumerate(e, &child)) {
		sa.reqid = child->get_reqid(child);
		if (sa.reqid && sa_call(this, "release held SAs", &sa, &r) == SUCCESS)
			DBG2(DBG_KNL, "ipsecif: %s[%u] is being deleted: reqid %u's held outbound SAs "
			     "carry now", ike_sa->get_name(ike_sa), ike_sa->get_unique_id(ike_sa),
			     sa.reqid);
	}
	e->destroy(e);
	return TRUE;
}

METHOD(kernel_ipsec_t, destroy, void, private_kernel_ipsecif_ipsec_t *this)
{
	charon->bus->remove_listener(charon->bus, &this->listener);
	if (this->events_fd >= 0)
		close(this->events_fd);
	free(this);
}

kernel_ipsec_t *kernel_ipsecif_ipsec_create(void)
{
	private_kernel_ipsecif_ipsec_t *this;

	INIT(this,
		.public = {
			.get_features = _get_features,
			.get_spi = _get_spi,
			.get_cpi = _get_cpi,
			.add_sa = _add_sa,
			.update_sa = _update_sa,
			.query_sa = _query_sa,
			.del_sa = _del_sa,
			.flush_sas = _flush_sas,
			.add_policy = _add_policy,
			.query_policy = _query_policy,
			.del_policy = _del_policy,
			.flush_policies = _flush_policies,
			.bypass_socket = _bypass_socket,
			.enable_udp_decap = _enable_udp_decap,
			.destroy = _destroy,
		},
		.retry_ms = lib->settings->get_int(lib->settings,
				"%s.plugins.kernel-ipsecif.retry_ms", 10000, lib->ns),
		.hold_ms = lib->settings->get_int(lib->settings,
				"%s.plugins.kernel-ipsecif.hold_ms", 1000, lib->ns),
		.listener = {
			.ike_state_change = _ike_state_change,
		},
		.events_fd = -1,
	);
	charon->bus->add_listener(charon->bus, &this->listener);
	lib->processor->queue_job(lib->processor,
		(job_t *)callback_job_create_with_prio((callback_job_cb_t)watch_events, this,
			NULL, (callback_job_cancel_t)return_false, JOB_PRIO_CRITICAL));
	return &this->public;
}
