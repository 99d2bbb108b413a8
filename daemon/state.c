// SPDX-License-Identifier: GPL-2.0-only
/*
 * The agent's tables survive it in a state file, /run/ipsecif/state/
 * net-INODE beside the pins, so that an agent started after a crash (or a
 * plain stop) adopts the interfaces and SAs the pinned maps still carry.
 * Same binary version only.  It holds no key: those are in the keys map.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "errmsg.h"
#include "pins.h"
#include "sadb.h"
#include "state.h"

#define STATE_MAGIC	0x53535049	/* "IPSS" */
#define STATE_VERSION	3

/*
 * The file: a snapshot (the header, the interfaces, the SAs, the XDP and
 * LAN devices), then, version 3, records of what changed since, each a
 * struct state_rec and its payload, appended one write a save: a save
 * costs what changed, not the whole table (thousands of interfaces).
 * Once the records outgrow the snapshot, a new snapshot replaces the file.
 */
struct state_hdr {
	__u32 magic;
	__u32 version;
	__u32 n_ifaces, n_sas, next_sa_id, n_xdp;
	__u32 iface_size, sa_size;
};

enum state_rec_kind {
	STATE_REC_IFACE = 1,	/* payload: struct table_iface, at index */
	STATE_REC_SA,		/* payload: struct table_sa, at index */
	STATE_REC_META,		/* payload: struct state_meta (index 0) */
};

struct state_rec {
	__u32 kind;
	__u32 index;
};

/* The counts and device lists: the last record says them. */
struct state_meta {
	__u32 n_ifaces, n_sas, next_sa_id, n_xdp, n_lan;
	__s32 xdp_devs[MAX_XDP_DEVS], lan_devs[MAX_XDP_DEVS];
};

/* What the file says now, to compare the tables with at the next save. */
struct state_mirror {
	int fd;				/* the file, appended to */
	struct table_iface *ifaces;
	struct table_sa *sas;
	size_t cap_ifaces, cap_sas;
	struct state_meta meta;
	size_t snapshot, appended;	/* bytes */
};

static void state_path(const struct agent *a, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", STATE_DIR, strrchr(a->pin_dir, '/') + 1);
}

static struct state_meta state_meta(const struct agent *a)
{
	struct state_meta m = { .n_ifaces = a->t.n_ifaces, .n_sas = a->t.n_sas,
				.next_sa_id = a->next_sa_id, .n_xdp = a->n_xdp, .n_lan = a->n_lan };

	memcpy(m.xdp_devs, a->xdp_devs, a->n_xdp * sizeof(int));
	memcpy(m.lan_devs, a->lan_devs, a->n_lan * sizeof(int));
	return m;
}

void state_close(struct agent *a)
{
	struct state_mirror *m = a->state;

	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	free(m->ifaces);
	free(m->sas);
	free(m);
	a->state = NULL;
}

/* *p with room for n of size (cap of them when it grows), or -ENOMEM. */
static int room(void **p, size_t *have, size_t n, size_t cap, size_t size)
{
	void *q;

	if (n <= *have)
		return 0;
	q = realloc(*p, cap * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*have = cap;
	return 0;
}

/* Room in the mirror for the tables as they are now. */
static int mirror_room(struct state_mirror *m, const struct agent *a)
{
	return room((void **)&m->ifaces, &m->cap_ifaces, a->t.n_ifaces, a->t.cap_ifaces,
		    sizeof(*m->ifaces)) ?:
	       room((void **)&m->sas, &m->cap_sas, a->t.n_sas, a->t.cap_sas, sizeof(*m->sas));
}

/* The mirror says what the tables say now. */
static int mirror_take(struct state_mirror *m, const struct agent *a)
{
	if (mirror_room(m, a))
		return -ENOMEM;
	memcpy(m->ifaces, a->t.ifaces, a->t.n_ifaces * sizeof(*m->ifaces));
	memcpy(m->sas, a->t.sas, a->t.n_sas * sizeof(*m->sas));
	m->meta = state_meta(a);
	return 0;
}

/* The whole tables, to a new file that replaces the old one. */
static void state_snapshot(struct agent *a)
{
	struct state_hdr h = { STATE_MAGIC, STATE_VERSION, a->t.n_ifaces, a->t.n_sas,
			       a->next_sa_id, a->n_xdp, sizeof(struct table_iface),
			       sizeof(struct table_sa) };
	char path[192], tmp[200];
	__u32 n_lan = a->n_lan;
	struct state_mirror *m;
	FILE *f;
	bool ok;
	int fd;

	state_close(a);
	memset(a->sa_changed, 0, sizeof(a->sa_changed));	/* all of them written */
	mkdir_p(RUN_DIR, 0700);
	/* Root's alone, whatever made the folder first and whatever the umask. */
	if (mkdir_p(STATE_DIR, 0700) || chmod(STATE_DIR, 0700))
		logmsg(LOG_WARNING, "%s: %s: %s", __func__, STATE_DIR, strerror(errno));
	state_path(a, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	f = fd >= 0 ? fdopen(dup(fd), "w") : NULL;
	if (!f) {
		logmsg(LOG_ERR, "%s: %s: %s", __func__, tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	ok = fwrite(&h, sizeof(h), 1, f) == 1 &&
	     fwrite(a->t.ifaces, sizeof(*a->t.ifaces), a->t.n_ifaces, f) == a->t.n_ifaces &&
	     fwrite(a->t.sas, sizeof(*a->t.sas), a->t.n_sas, f) == a->t.n_sas &&
	     fwrite(a->xdp_devs, sizeof(a->xdp_devs[0]), a->n_xdp, f) == (size_t)a->n_xdp &&
	     fwrite(&n_lan, sizeof(n_lan), 1, f) == 1 &&
	     fwrite(a->lan_devs, sizeof(a->lan_devs[0]), a->n_lan, f) == n_lan;
	ok = !fclose(f) && ok;
	if (!ok || rename(tmp, path)) {
		logmsg(LOG_ERR, "%s: %s: %s", __func__, path, strerror(errno));
		close(fd);
		return;
	}
	/* The records that follow go to the end of this file (renamed: the same one). */
	m = calloc(1, sizeof(*m));
	if (!m || mirror_take(m, a)) {
		free(m ? m->ifaces : NULL);
		free(m);
		close(fd);
		return;
	}
	m->fd = fd;
	m->snapshot = lseek(fd, 0, SEEK_END);
	a->state = m;
}

/* A record into buf (grown as needed) at *n. */
static int rec_put(char **buf, size_t *n, size_t *cap, __u32 kind, __u32 index,
		   const void *payload, size_t len)
{
	struct state_rec r = { kind, index };

	if (*n + sizeof(r) + len > *cap) {
		size_t c = 2 * (*n + sizeof(r) + len);
		char *p = realloc(*buf, c);

		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap = c;
	}
	memcpy(*buf + *n, &r, sizeof(r));
	memcpy(*buf + *n + sizeof(r), payload, len);
	*n += sizeof(r) + len;
	return 0;
}

void state_sa_changed(struct agent *a, const struct table_sa *t)
{
	size_t i = t - a->t.sas;

	if (i < IPSECIF_MAX_SAS)
		a->sa_changed[i / 64] |= 1ULL << (i % 64);
}

/*
 * The tests' check (IPSECIF_STATE_VERIFY=1) that every change to an SA
 * was said: one that was not would be missing from the file, and an
 * agent adopting it would run with the SA as it was.  A developer's
 * check, so it stops the agent, where the fault is.
 */
static void verify_unsaid(const struct agent *a, const struct state_mirror *m)
{
	static int verify = -1;
	size_t i;

	if (verify < 0) {
		const char *v = getenv("IPSECIF_STATE_VERIFY");

		verify = v && !strcmp(v, "1");
	}
	for (i = 0; verify && i < a->t.n_sas && i < m->meta.n_sas; i++)
		if (memcmp(&a->t.sas[i], &m->sas[i], sizeof(m->sas[i]))) {
			logmsg(LOG_CRIT, "%s: SA %u (position %zu) changed, and no "
			       "state_sa_changed() said so", __func__, a->t.sas[i].spi, i);
			abort();
		}
}

/* What changed since the last save, appended; -errno when it could not be. */
static int state_append(struct agent *a, struct state_mirror *m)
{
	struct state_meta meta = state_meta(a);
	size_t i, n = 0, cap = 0;
	char *buf = NULL;
	int ret = mirror_room(m, a);

	/* The interfaces: a memcmp of each; the writes, and the mirror's copies, of what changed. */
	for (i = 0; !ret && i < a->t.n_ifaces; i++)
		if (i >= m->meta.n_ifaces || memcmp(&a->t.ifaces[i], &m->ifaces[i], sizeof(m->ifaces[i]))) {
			ret = rec_put(&buf, &n, &cap, STATE_REC_IFACE, i, &a->t.ifaces[i],
				      sizeof(a->t.ifaces[i]));
			memcpy(&m->ifaces[i], &a->t.ifaces[i], sizeof(m->ifaces[i]));
		}
	/* The SAs: those said changed, and those past the file's count. */
	for (i = m->meta.n_sas; i < a->t.n_sas; i++)
		state_sa_changed(a, &a->t.sas[i]);
	for (i = bits_next(a->sa_changed, 0, a->t.n_sas); !ret && i < a->t.n_sas;
	     i = bits_next(a->sa_changed, i + 1, a->t.n_sas))
		if (i >= m->meta.n_sas || memcmp(&a->t.sas[i], &m->sas[i], sizeof(m->sas[i]))) {
			ret = rec_put(&buf, &n, &cap, STATE_REC_SA, i, &a->t.sas[i],
				      sizeof(a->t.sas[i]));
			memcpy(&m->sas[i], &a->t.sas[i], sizeof(m->sas[i]));
		}
	if (!ret)
		verify_unsaid(a, m);
	memset(a->sa_changed, 0, sizeof(a->sa_changed));
	if (!ret && (n || memcmp(&meta, &m->meta, sizeof(meta))))
		ret = rec_put(&buf, &n, &cap, STATE_REC_META, 0, &meta, sizeof(meta));
	if (!ret && n && write(m->fd, buf, n) != (ssize_t)n)
		ret = errno ? -errno : -EIO;
	free(buf);
	m->meta = meta;
	m->appended += n;
	return ret;	/* an error: the next save writes the whole file again */
}

void state_save(struct agent *a)
{
	struct state_mirror *m = a->state;

	sadb_next_changed(a);	/* the SAs' next time, with the changed ones' */

	/* Records past the snapshot's size (and 64 kB) cost more to read than a new one. */
	if (m && m->appended < (m->snapshot > 65536 ? m->snapshot : 65536) && !state_append(a, m))
		return;
	state_snapshot(a);
}

/* The arrays a file's records change, grown to index. */
static int grow(void **p, size_t *cap, size_t index, size_t size, size_t max)
{
	size_t c = *cap ? *cap : 16;
	void *q;

	if (index >= max)
		return -EBADMSG;
	if (index < *cap)
		return 0;
	while (c <= index)
		c *= 2;
	q = realloc(*p, c * size);
	if (!q)
		return -ENOMEM;
	memset((char *)q + *cap * size, 0, (c - *cap) * size);
	*p = q;
	*cap = c;
	return 0;
}

/*
 * A state file that does not read back whole (truncated, edited, another
 * version) stops the start: adopting half the tables would leave SAs in
 * the maps that no one owns.  No file is fine: the agent before never
 * changed anything.
 */
int state_load(struct agent *a, char *err, size_t errlen)
{
	struct table_iface *ifs = NULL;
	struct table_sa *sas = NULL;
	size_t cap_if = 0, cap_sa = 0, i, got = 0;
	struct state_meta meta = {};
	struct state_hdr h;
	struct state_rec r;
	char path[192];
	FILE *f;
	int ret = -EBADMSG;

	state_path(a, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : errmsg(err, errlen, -errno, "%s: %s", path,
						    strerror(errno));
	/* Version 1 is version 2 without the LAN devices, 2 is 3 without records: adopted. */
	if (fread(&h, sizeof(h), 1, f) != 1 || h.magic != STATE_MAGIC ||
	    h.version < 1 || h.version > STATE_VERSION ||
	    h.iface_size != sizeof(struct table_iface) || h.sa_size != sizeof(struct table_sa) ||
	    h.n_ifaces > IPSECIF_MAX_IFACES || h.n_sas > IPSECIF_MAX_SAS || h.n_xdp > MAX_XDP_DEVS)
		goto bad;
	meta = (struct state_meta){ .n_ifaces = h.n_ifaces, .n_sas = h.n_sas,
				    .next_sa_id = h.next_sa_id, .n_xdp = h.n_xdp };
	if ((h.n_ifaces && grow((void **)&ifs, &cap_if, h.n_ifaces - 1, sizeof(*ifs),
				IPSECIF_MAX_IFACES)) ||
	    (h.n_sas && grow((void **)&sas, &cap_sa, h.n_sas - 1, sizeof(*sas), IPSECIF_MAX_SAS)) ||
	    fread(ifs, sizeof(*ifs), h.n_ifaces, f) != h.n_ifaces ||
	    fread(sas, sizeof(*sas), h.n_sas, f) != h.n_sas ||
	    fread(meta.xdp_devs, sizeof(int), h.n_xdp, f) != h.n_xdp)
		goto bad;
	if (h.version >= 2 && (fread(&meta.n_lan, sizeof(meta.n_lan), 1, f) != 1 ||
			       meta.n_lan > MAX_XDP_DEVS ||
			       fread(meta.lan_devs, sizeof(int), meta.n_lan, f) != meta.n_lan))
		goto bad;
	/* The records, each whole: a cut one is a file that does not read back. */
	while (h.version >= 3 && (got = fread(&r, 1, sizeof(r), f)) == sizeof(r)) {
		if (r.kind == STATE_REC_IFACE) {
			if (grow((void **)&ifs, &cap_if, r.index, sizeof(*ifs), IPSECIF_MAX_IFACES) ||
			    fread(&ifs[r.index], sizeof(*ifs), 1, f) != 1)
				goto bad;
		} else if (r.kind == STATE_REC_SA) {
			if (grow((void **)&sas, &cap_sa, r.index, sizeof(*sas), IPSECIF_MAX_SAS) ||
			    fread(&sas[r.index], sizeof(*sas), 1, f) != 1)
				goto bad;
		} else if (r.kind != STATE_REC_META || r.index ||
			   fread(&meta, sizeof(meta), 1, f) != 1 || meta.n_ifaces > cap_if ||
			   meta.n_sas > cap_sa || meta.n_xdp > MAX_XDP_DEVS ||
			   meta.n_lan > MAX_XDP_DEVS) {
			goto bad;
		}
	}
	if (got || fgetc(f) != EOF || meta.n_ifaces > IPSECIF_MAX_IFACES || meta.n_sas > IPSECIF_MAX_SAS)
		goto bad;
	for (i = 0; i < meta.n_ifaces; i++) {
		struct table_iface fi = ifs[i];

		fi.name[sizeof(fi.name) - 1] = 0;
		if (table_create(&a->t, fi.name, fi.reqid, NULL, 0))
			goto bad;
		*table_find(&a->t, fi.name) = fi;
	}
	for (i = 0; i < meta.n_sas; i++)
		if (table_sa_add(&a->t, &sas[i], NULL, 0))
			goto bad;
	for (i = 0; i < meta.n_xdp; i++)
		a->xdp_devs[a->n_xdp++] = meta.xdp_devs[i];
	for (i = 0; i < meta.n_lan; i++)
		a->lan_devs[a->n_lan++] = meta.lan_devs[i];
	a->next_sa_id = meta.next_sa_id;
	fclose(f);
	free(ifs);
	free(sas);
	logmsg(LOG_INFO, "adopted %zu interfaces and %zu SAs", a->t.n_ifaces, a->t.n_sas);
	return 0;
bad:
	fclose(f);
	free(ifs);
	free(sas);
	table_free(&a->t);
	table_init(&a->t);
	a->n_xdp = 0;
	a->n_lan = 0;
	return errmsg(err, errlen, ret, "%s does not read back as this agent's state; "
		      "remove it and %s to start afresh", path, a->pin_dir);
}

/* The engine's settings (engine.c) beside the state file, as net-INODE.engine. */
static void engine_path(const struct agent *a, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.engine", STATE_DIR, strrchr(a->pin_dir, '/') + 1);
}

int state_engine_save(struct agent *a, const void *buf, size_t len)
{
	char path[200], tmp[210];
	int fd, ret = 0;

	mkdir_p(STATE_DIR, 0700);
	engine_path(a, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd))
		ret = errno ? -errno : -EIO;
	close(fd);
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int state_engine_load(struct agent *a, void *buf, size_t len)
{
	char path[200];
	int fd, ret;
	ssize_t n;

	engine_path(a, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len);
	ret = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EINVAL;
	close(fd);
	return ret;
}

void state_remove(struct agent *a)
{
	char path[192];

	state_close(a);
	state_path(a, path, sizeof(path));
	unlink(path);
	engine_path(a, path, sizeof(path));
	unlink(path);
	rmdir(STATE_DIR);	/* only when no other namespace's agent keeps one */
}
