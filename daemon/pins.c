// SPDX-License-Identifier: GPL-2.0-only
/*
 * The pins: a bpffs at /run/ipsecif/bpf, and in it one folder per network
 * namespace, net-INODE, holding the maps, programs (prog_NAME) and XDP
 * links (link_KIND_IFINDEX) of that namespace's agent.  /run, unlike
 * /sys, is not remounted by "ip netns exec", so bpftool reaches the maps
 * from any shell.  The folder is also the agent's lock: one agent per
 * network namespace.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ipsecif.skel.h"
#include "agent.h"
#include "errmsg.h"
#include "pins.h"

#define BPF_FS_MAGIC	0xcafe4a11

int mkdir_p(const char *path, mode_t mode)
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

static const char *map_type_name(__u32 type)
{
	const char *name = libbpf_bpf_map_type_str(type);

	return name ? name : "unknown";
}

/*
 * A map pinned at path by an earlier agent that this one can adopt: of
 * m's type, key and value sizes, entries and flags.  Another layout (an
 * agent of an older release, before its SA state became arrays) is
 * refused by name, before anything is loaded or changed: libbpf's own
 * refusal would only say "Invalid argument".
 */
static int pin_compatible(const struct bpf_map *m, const char *path, char *err, size_t errlen)
{
	struct bpf_map_info info = {};
	__u32 n = sizeof(info);
	int fd = bpf_obj_get(path), ret = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : errmsg(err, errlen, -errno, "%s: %s", path,
						    strerror(errno));
	if (bpf_obj_get_info_by_fd(fd, &info, &n)) {
		ret = errmsg(err, errlen, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (info.type != bpf_map__type(m) || info.key_size != bpf_map__key_size(m) ||
	    info.value_size != bpf_map__value_size(m) ||
	    info.max_entries != bpf_map__max_entries(m) || info.map_flags != bpf_map__map_flags(m))
		ret = errmsg(err, errlen, -EPROTO, "%s: pinned by an agent of another release "
			     "(%s, key %u, value %u bytes, %u entries; this one's: %s, key %u, "
			     "value %u, %u): its data path cannot be adopted; stop it with "
			     "\"ipsecif-agent stop --flush\" (its tunnels go down), then start",
			     path, map_type_name(info.type), info.key_size, info.value_size,
			     info.max_entries, map_type_name(bpf_map__type(m)),
			     bpf_map__key_size(m), bpf_map__value_size(m), bpf_map__max_entries(m));
out:
	close(fd);
	return ret;
}

/* Load the BPF object, its maps pinned (and adopted when already pinned). */
static int bpf_ready(struct agent *a, char *err, size_t errlen)
{
	struct bpf_program *p;
	struct bpf_map *m;
	char path[256];
	int ret;

	a->skel = ipsecif__open();
	if (!a->skel)
		return errmsg(err, errlen, -errno, "opening the BPF object: %s", strerror(errno));
	bpf_object__for_each_map(m, a->skel->obj) {
		const char *name = bpf_map__name(m);

		/*
		 * Global data and per-CPU scratch are private to this load, and
		 * so is the opened keys' cache, whose objects are of this load's
		 * own BTF type (bpf/wrap.h), and so are the engine's maps, whose
		 * workers live and die with this agent (bpf/engine.h).
		 */
		if (strchr(name, '.') || strstr(name, "scratch") || strstr(name, "state") ||
		    strstr(name, "keystream") || strstr(name, "params") || strstr(name, "test") ||
		    !strcmp(name, "key_cache") || !strncmp(name, "eng_", 4))
			continue;
		snprintf(path, sizeof(path), "%s/%s", a->pin_dir, name);
		ret = pin_compatible(m, path, err, errlen);
		if (ret)
			return ret;
		ret = bpf_map__set_pin_path(m, path);
		if (ret)
			return errmsg(err, errlen, ret, "%s: %s", path, strerror(-ret));
	}
	ret = ipsecif__load(a->skel);
	if (ret)
		return errmsg(err, errlen, ret, "loading the BPF programs: %s", strerror(-ret));
	/* This load's programs, for bpftool; an earlier agent's pins give way. */
	bpf_object__for_each_program(p, a->skel->obj) {
		snprintf(path, sizeof(path), "%s/prog_%s", a->pin_dir, bpf_program__name(p));
		unlink(path);
		ret = bpf_program__pin(p, path);
		if (ret)
			return errmsg(err, errlen, ret, "%s: %s", path, strerror(-ret));
	}
	return 0;
}

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE	71
#endif

/* This network namespace's cookie: unlike its inode, never given to another. */
static int netns_cookie(__u64 *cookie)
{
	socklen_t len = sizeof(*cookie);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len))
		ret = -errno;
	close(fd);
	return ret;
}

static void cookie_path(const struct agent *a, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.netns", STATE_DIR, strrchr(a->pin_dir, '/') + 1);
}

/*
 * Pins left by the agent of a namespace that is gone: the folder is named
 * by the namespace's inode, and the kernel gives a dead namespace's inode
 * to a new one.  The cookie recorded beside the state file tells them
 * apart; such pins are removed, not adopted (and their state file with
 * them, by the fresh start that follows: main.c, state_remove).
 */
static bool pins_stale(struct agent *a, __u64 cookie)
{
	char path[200];
	unsigned long long was;
	bool stale = false;
	FILE *f;

	cookie_path(a, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return false;	/* none recorded (an older agent): adopt as ever */
	stale = fscanf(f, "%llu", &was) == 1 && was != cookie;
	fclose(f);
	return stale;
}

static void pins_clear(struct agent *a)
{
	char path[400];
	struct dirent *e;
	DIR *d = opendir(a->pin_dir);

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", a->pin_dir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
}

void pins_record_cookie(struct agent *a)
{
	__u64 cookie = a->netns_cookie;
	char path[200];
	FILE *f;

	if (!cookie)
		return;		/* not known (an old kernel): pins are adopted as ever */
	mkdir_p(RUN_DIR, 0700);
	mkdir_p(STATE_DIR, 0700);
	cookie_path(a, path, sizeof(path));
	f = fopen(path, "we");
	if (!f || fprintf(f, "%llu\n", (unsigned long long)cookie) < 0)
		logmsg(LOG_WARNING, "%s: %s: %s", __func__, path, strerror(errno));
	if (f)
		fclose(f);
}

int pins_open(struct agent *a, bool *adopt, char *err, size_t errlen)
{
	char probe[200];
	__u64 cookie = 0;
	int ret;

	ret = bpffs_ready(err, errlen);
	if (ret)
		return ret;
	ret = pin_dir_lock(a, err, errlen);
	if (ret)
		return ret;
	/* Pinned maps from an earlier agent: its tables go with them. */
	snprintf(probe, sizeof(probe), "%s/sa_in", a->pin_dir);
	*adopt = !access(probe, F_OK);
	if (!netns_cookie(&cookie)) {
		if (*adopt && pins_stale(a, cookie)) {
			logmsg(LOG_NOTICE, "%s: pins of a namespace that is gone (its inode is "
			       "this one's now): removed, not adopted", a->pin_dir);
			pins_clear(a);
			*adopt = false;
		}
		a->netns_cookie = cookie;
	}
	return bpf_ready(a, err, errlen);
}

void pins_forget_cookie(struct agent *a)
{
	char path[200];

	cookie_path(a, path, sizeof(path));
	unlink(path);
}

static void unpin_programs(struct agent *a)
{
	struct bpf_program *p;
	char path[256];

	bpf_object__for_each_program(p, a->skel->obj) {
		snprintf(path, sizeof(path), "%s/prog_%s", a->pin_dir, bpf_program__name(p));
		unlink(path);
	}
}

void pins_close(struct agent *a)
{
	if (a->skel) {
		if (a->flush) {
			bpf_object__unpin_maps(a->skel->obj, NULL);
			unpin_programs(a);
		}
		ipsecif__destroy(a->skel);
		a->skel = NULL;
	}
	if (a->flush && a->pin_dir[0])
		rmdir(a->pin_dir);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	a->lock_fd = -1;
}
