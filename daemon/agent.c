// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipsecif-agent: owns the BPF objects of one network namespace and serves
 * ipsecifctl on a control socket.
 *
 *   ipsecif-agent start [-f] [-v]     start (returns once ready; -f: stay in front)
 *   ipsecif-agent status [-j]         is it running, and what does it hold
 *   ipsecif-agent stop [--flush]      stop; the data path keeps running unless --flush
 *
 * One agent per network namespace.  Its control socket is in the abstract
 * namespace, which is per network namespace, so ipsecifctl finds the
 * agent of the namespace it runs in.  Its pins are under
 * /run/ipsecif/bpf/net-INODE, a bpffs it mounts if needed: /run, unlike
 * /sys, is not remounted by "ip netns exec", so bpftool reaches the maps
 * from any shell.  The pin folder is also its lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <stddef.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "agent.h"
#include "ctl.h"
#include "errmsg.h"

#define BPF_FS_MAGIC	0xcafe4a11
#define RUN_DIR		"/run/ipsecif"
#define BPFFS_DIR	RUN_DIR "/bpf"

struct agent {
	struct ipsecif *skel;
	char pin_dir[128];
	int lock_fd;
	int sock;
	bool verbose, foreground, stop, flush;
};

static bool use_syslog;
static bool verbose;

static void logmsg(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && !verbose)
		return;
	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		fprintf(stderr, "ipsecif-agent: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

int agent_ns_id(unsigned long *ino)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		return -errno;
	*ino = st.st_ino;
	return 0;
}

int agent_sockaddr(struct sockaddr_un *sa, socklen_t *len)
{
	static const char name[] = "ipsecif-agent";

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* Abstract: sun_path starts with a NUL, the name follows, no file. */
	memcpy(sa->sun_path + 1, name, sizeof(name) - 1);
	*len = offsetof(struct sockaddr_un, sun_path) + 1 + sizeof(name) - 1;
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	if (mkdir(path, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

static bool is_bpffs(const char *path)
{
	struct statfs fs;

	return !statfs(path, &fs) && fs.f_type == BPF_FS_MAGIC;
}

/*
 * Mount the bpffs in the first mount namespace, from a child that joins
 * it: "ip netns exec" runs us in a mount namespace of its own, whose
 * mounts die with it, but which receives the first one's (it is a slave).
 */
static int mount_in_init_ns(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || setns(fd, CLONE_NEWNS))
			_exit(1);
		mkdir(RUN_DIR, 0700);
		mkdir(BPFFS_DIR, 0700);
		_exit(is_bpffs(BPFFS_DIR) || !mount("bpf", BPFFS_DIR, "bpf", 0, "mode=0700") ?
		      0 : 1);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -EPERM;
}

/* A bpffs at BPFFS_DIR that every mount namespace sees. */
static int bpffs_ready(char *err, size_t errlen)
{
	int ret;

	if (is_bpffs(BPFFS_DIR))
		return 0;
	ret = mount_in_init_ns();
	if (!ret && is_bpffs(BPFFS_DIR))
		return 0;
	/* A private mount namespace: mount it here, seen from here only. */
	logmsg(LOG_WARNING, "%s: mounting %s in this mount namespace only", __func__, BPFFS_DIR);
	ret = mkdir_p(RUN_DIR, 0700);
	if (!ret)
		ret = mkdir_p(BPFFS_DIR, 0700);
	if (ret)
		return errmsg(err, errlen, ret, "%s: %s", BPFFS_DIR, strerror(-ret));
	if (mount("bpf", BPFFS_DIR, "bpf", 0, "mode=0700"))
		return errmsg(err, errlen, -errno, "mounting a bpffs on %s: %s", BPFFS_DIR,
			      strerror(errno));
	return 0;
}

/* The pin folder, locked: a second agent in the namespace is refused. */
static int pin_dir_lock(struct agent *a, char *err, size_t errlen)
{
	unsigned long ino;
	int ret = agent_ns_id(&ino);

	if (ret)
		return errmsg(err, errlen, ret, "which network namespace: %s", strerror(-ret));
	snprintf(a->pin_dir, sizeof(a->pin_dir), "%s/net-%lu", BPFFS_DIR, ino);
	ret = mkdir_p(a->pin_dir, 0700);
	if (ret)
		return errmsg(err, errlen, ret, "%s: %s", a->pin_dir, strerror(-ret));
	a->lock_fd = open(a->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a->lock_fd < 0)
		return errmsg(err, errlen, -errno, "%s: %s", a->pin_dir, strerror(errno));
	if (flock(a->lock_fd, LOCK_EX | LOCK_NB)) {
		ret = -errno;
		close(a->lock_fd);
		a->lock_fd = -1;
		if (ret == -EWOULDBLOCK)
			return errmsg(err, errlen, -EALREADY,
				      "an agent is already running in this network namespace");
		return errmsg(err, errlen, ret, "locking %s: %s", a->pin_dir, strerror(-ret));
	}
	return 0;
}

/* Load the BPF object, its maps pinned (and adopted when already pinned). */
static int bpf_ready(struct agent *a, char *err, size_t errlen)
{
	struct bpf_map *m;
	char path[256];
	int ret;

	a->skel = ipsecif__open();
	if (!a->skel)
		return errmsg(err, errlen, -errno, "opening the BPF object: %s", strerror(errno));
	bpf_object__for_each_map(m, a->skel->obj) {
		const char *name = bpf_map__name(m);

		/* Global data and per-CPU scratch are private to this load. */
		if (strchr(name, '.') || strstr(name, "scratch") || strstr(name, "state") ||
		    strstr(name, "keystream") || strstr(name, "params") || strstr(name, "test"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", a->pin_dir, name);
		ret = bpf_map__set_pin_path(m, path);
		if (ret)
			return errmsg(err, errlen, ret, "%s: %s", path, strerror(-ret));
	}
	ret = ipsecif__load(a->skel);
	if (ret)
		return errmsg(err, errlen, ret, "loading the BPF programs: %s", strerror(-ret));
	return 0;
}

static int sock_ready(struct agent *a, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t len;

	agent_sockaddr(&sa, &len);
	a->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (a->sock < 0)
		return errmsg(err, errlen, -errno, "socket: %s", strerror(errno));
	if (bind(a->sock, (struct sockaddr *)&sa, len)) {
		if (errno == EADDRINUSE)
			return errmsg(err, errlen, -EALREADY,
				      "an agent is already running in this network namespace");
		return errmsg(err, errlen, -errno, "the control socket: %s", strerror(errno));
	}
	if (listen(a->sock, 16))
		return errmsg(err, errlen, -errno, "listen: %s", strerror(errno));
	return 0;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * Read len bytes; *got says how many came before the peer closed or a
 * timeout.  0 when all came, -ECONNRESET or -errno otherwise.
 */
static int recv_some(int fd, void *buf, size_t len, size_t *got)
{
	char *p = buf;

	*got = 0;
	while (*got < len) {
		ssize_t n = recv(fd, p + *got, len - *got, 0);

		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		*got += n;
	}
	return 0;
}

static int recv_all(int fd, void *buf, size_t len)
{
	size_t got;

	return recv_some(fd, buf, len, &got);
}

int agent_reply(int fd, int status, const char *text)
{
	size_t tlen = text ? strlen(text) : 0;
	struct ctl_hdr h = { .magic = CTL_MAGIC, .version = CTL_VERSION, .type = CTL_RESP,
			     .len = sizeof(__s32) + tlen };
	__s32 st = status;
	int ret;

	ret = send_all(fd, &h, sizeof(h));
	if (!ret)
		ret = send_all(fd, &st, sizeof(st));
	if (!ret && tlen)
		ret = send_all(fd, text, tlen);
	return ret;
}

static void status_text(struct agent *a, bool json, char *buf, size_t len)
{
	if (json)
		snprintf(buf, len, "{\"running\": true, \"pid\": %d, \"pin_dir\": \"%s\", "
			 "\"interfaces\": 0, \"sas\": 0}\n", (int)getpid(), a->pin_dir);
	else
		snprintf(buf, len, "running, pid %d, pins in %s\n", (int)getpid(), a->pin_dir);
}

/* One request from one client, answered; the agent carries on whatever it was. */
static void serve(struct agent *a, int fd)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct ctl_hdr h;
	struct ctl_req req;
	char err[512], text[1024];
	char *msg = NULL;
	size_t got;
	int ret;

	/* Root only (the socket is in the abstract namespace: no file mode). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) || cred.uid != 0) {
		agent_reply(fd, -EPERM, "ipsecif-agent: only root may talk to the agent\n");
		return;
	}
	ret = recv_some(fd, &h, sizeof(h), &got);
	if (ret) {
		if (got)	/* the rest never came: say so, it is all we can do */
			ctl_decode(&h, got, &req, err, sizeof(err));
		if (got)
			goto bad;
		return;
	}
	ret = ctl_check_hdr(&h, err, sizeof(err));
	if (ret)
		goto bad;
	msg = malloc(sizeof(h) + h.len);
	if (!msg) {
		agent_reply(fd, -ENOMEM, "ipsecif-agent: out of memory\n");
		return;
	}
	memcpy(msg, &h, sizeof(h));
	ret = recv_some(fd, msg + sizeof(h), h.len, &got);
	/* Short: the decoder names what is missing. */
	ret = ctl_decode(msg, sizeof(h) + (ret ? got : h.len), &req, err, sizeof(err));
	if (ret)
		goto bad;
	switch (req.type) {
	case CTL_REQ_STATUS:
		status_text(a, req.flags & CTL_F_JSON, text, sizeof(text));
		agent_reply(fd, 0, text);
		break;
	case CTL_REQ_STOP:
		a->stop = true;
		a->flush = req.flags & CTL_F_FLUSH;
		agent_reply(fd, 0, a->flush ? "stopping; tearing everything down\n" :
				   "stopping; the data path keeps running\n");
		break;
	default:
		agent_reply(fd, -EOPNOTSUPP, "ipsecif-agent: this agent does not carry out "
			    "interface or setkey requests yet\n");
	}
	free(msg);
	return;
bad:
	logmsg(LOG_WARNING, "%s: malformed request: %s", __func__, err);
	snprintf(text, sizeof(text), "ipsecif-agent: %s\n", err);
	agent_reply(fd, ret, text);
	free(msg);
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static int run(struct agent *a, int ready_fd)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct pollfd pfd = { .fd = a->sock, .events = POLLIN };

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	logmsg(LOG_INFO, "ready; pins in %s", a->pin_dir);
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "", 1);	/* the parent returns 0 */
		close(ready_fd);
	}
	while (!a->stop && !got_signal) {
		int fd;

		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		fd = accept4(a->sock, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		/* A client gets 5 s to send its request. */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 5 },
			   sizeof(struct timeval));
		serve(a, fd);
		close(fd);
	}
	return 0;
}

static void teardown(struct agent *a)
{
	if (a->sock >= 0)
		close(a->sock);
	if (a->skel) {
		if (a->flush)
			bpf_object__unpin_maps(a->skel->obj, NULL);
		ipsecif__destroy(a->skel);
	}
	if (a->flush && a->pin_dir[0])
		rmdir(a->pin_dir);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
}

static int agent_start(bool foreground)
{
	struct agent a = { .lock_fd = -1, .sock = -1, .foreground = foreground };
	char err[512] = "";
	int pfd[2] = { -1, -1 }, ret;
	pid_t pid;

	if (!foreground) {
		if (pipe2(pfd, O_CLOEXEC))
			return -errno;
		pid = fork();
		if (pid < 0)
			return -errno;
		if (pid > 0) {
			char buf[600];
			ssize_t n;

			close(pfd[1]);
			/* Ready: one NUL byte.  Otherwise the reason, then EOF. */
			n = read(pfd[0], buf, sizeof(buf) - 1);
			if (n == 1 && buf[0] == 0)
				return 0;
			if (n <= 0)
				snprintf(buf, sizeof(buf), "the agent exited before it was ready");
			else
				buf[n] = 0;
			fprintf(stderr, "ipsecif-agent: %s\n", buf);
			return -EIO;
		}
		close(pfd[0]);
		setsid();
		use_syslog = true;
		openlog("ipsecif-agent", LOG_PID, LOG_DAEMON);
	}

	ret = bpffs_ready(err, sizeof(err));
	if (!ret)
		ret = pin_dir_lock(&a, err, sizeof(err));
	if (!ret)
		ret = bpf_ready(&a, err, sizeof(err));
	if (!ret)
		ret = sock_ready(&a, err, sizeof(err));
	if (ret) {
		if (pfd[1] >= 0)
			(void)!write(pfd[1], err, strlen(err));
		else
			fprintf(stderr, "ipsecif-agent: %s\n", err);
		teardown(&a);
		return ret;
	}
	if (!foreground) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
	}
	ret = run(&a, pfd[1]);
	logmsg(LOG_INFO, "stopping%s", a.flush ? ", tearing everything down" : "");
	teardown(&a);
	return ret;
}

int agent_request(const void *msg, size_t len, char *out, size_t outlen, int *status)
{
	struct sockaddr_un sa;
	socklen_t salen;
	struct ctl_hdr h;
	__s32 st;
	int fd, ret;
	size_t n;

	agent_sockaddr(&sa, &salen);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, salen)) {
		ret = -errno;
		goto out;
	}
	ret = send_all(fd, msg, len);
	if (!ret)
		ret = recv_all(fd, &h, sizeof(h));
	if (!ret && (h.magic != CTL_MAGIC || h.type != CTL_RESP || h.len < sizeof(st) ||
		     h.len > CTL_MAX_PAYLOAD))
		ret = -EPROTO;
	if (!ret)
		ret = recv_all(fd, &st, sizeof(st));
	if (ret)
		goto out;
	n = h.len - sizeof(st);
	if (n >= outlen)
		n = outlen - 1;
	ret = recv_all(fd, out, n);
	out[ret ? 0 : n] = 0;
	*status = st;
out:
	close(fd);
	return ret;
}

static int simple_request(enum ctl_type type, __u32 flags)
{
	char buf[64], out[4096];
	ssize_t n = ctl_encode(type, flags, 0, NULL, NULL, 0, buf, sizeof(buf));
	int status, ret;

	if (n < 0)
		return n;
	ret = agent_request(buf, n, out, sizeof(out), &status);
	if (ret == -ECONNREFUSED || ret == -ENOENT) {
		fprintf(stderr, "ipsecif-agent: not running in this network namespace\n");
		return -ESRCH;
	}
	if (ret) {
		fprintf(stderr, "ipsecif-agent: talking to the agent: %s\n", strerror(-ret));
		return ret;
	}
	fputs(out, status ? stderr : stdout);
	return status;
}

static void usage(FILE *f)
{
	fputs("usage: ipsecif-agent start [-f|--foreground] [-v]\n"
	      "       ipsecif-agent status [-j]\n"
	      "       ipsecif-agent stop [--flush]\n", f);
}

int main(int argc, char **argv)
{
	bool foreground = false, json = false, flush = false;
	const char *cmd;
	int i, ret;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	for (i = 2; i < argc; i++) {
		if (!strcmp(cmd, "start") && (!strcmp(argv[i], "-f") ||
					      !strcmp(argv[i], "--foreground")))
			foreground = true;
		else if (!strcmp(cmd, "start") && !strcmp(argv[i], "-v"))
			verbose = true;
		else if (!strcmp(cmd, "status") && !strcmp(argv[i], "-j"))
			json = true;
		else if (!strcmp(cmd, "stop") && !strcmp(argv[i], "--flush"))
			flush = true;
		else {
			fprintf(stderr, "ipsecif-agent: '%s': unknown option for %s\n", argv[i], cmd);
			usage(stderr);
			return 2;
		}
	}
	if (!strcmp(cmd, "start"))
		ret = agent_start(foreground);
	else if (!strcmp(cmd, "status"))
		ret = simple_request(CTL_REQ_STATUS, json ? CTL_F_JSON : 0);
	else if (!strcmp(cmd, "stop"))
		ret = simple_request(CTL_REQ_STOP, flush ? CTL_F_FLUSH : 0);
	else if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return 0;
	} else {
		fprintf(stderr, "ipsecif-agent: '%s': unknown command\n", cmd);
		usage(stderr);
		return 2;
	}
	return ret ? 1 : 0;
}
