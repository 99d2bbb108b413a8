// SPDX-License-Identifier: GPL-2.0-only
/*
 * The sequence-number store.  A manually keyed SA's IV is its sequence
 * number, and a new SA starts at 1: after stop --flush, a reboot or a
 * config file applied again, the same key would seal the same nonces
 * again, which undoes AES-GCM and ChaCha20-Poly1305 (RFC 4106 §3,
 * RFC 7634 §4, RFC 8221 §5).  So every number a manual key seals is
 * first reserved here, in a file outside /run that survives reboots,
 * written and fsync'd before the data path may use it (it refuses past
 * the SA's seq_limit).  A key is known by a keyed fingerprint
 * (HMAC-SHA-256 under a secret of this store's), never by itself: the
 * store holds no key.  What a restart costs is the unused rest of a
 * reservation: numbers skipped, never repeated.
 *
 *   DIR/secret   32 random bytes, 0600
 *   DIR/seq      struct seq_file, then its records
 *   DIR/lock     flock(2)ed while a reservation is made and written
 *
 * Every agent on the host (one a network namespace) shares the store: a
 * key may move between namespaces across a reboot, and two may even hold
 * one key at once.  So a reservation is a transaction under DIR/lock:
 * the file is read again and merged in (each key's highest number wins),
 * the numbers are taken from that, and the file is written before the
 * lock goes.  Without it one agent's write dropped another's newer
 * records, and two agents sealing with one key took the same numbers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "ipsecif.skel.h"
#include "errmsg.h"
#include "pins.h"
#include "sadb.h"
#include "seqstore.h"
#include "state.h"

#define SEQ_MAGIC	0x51535049	/* "IPSQ" */

struct seq_file {
	__u32 magic;
	__u32 version;
	__u32 n;			/* records that follow */
	__u32 rec_size;
};

/* One key: the highest number any of its SAs may have sealed. */
struct seq_rec {
	__u8 fp[SEQ_FP_LEN];		/* HMAC-SHA-256(secret, key), truncated */
	__u64 hwm;
};

struct seqstore {
	char dir[200];
	__u8 secret[32];
	struct seq_rec *recs;
	size_t n, cap;
	bool dirty;			/* reservations not yet on disk */
	int lock_fd;			/* DIR/lock, held from store_lock to the sync */
	dev_t dev;			/* DIR/seq as this agent last read or wrote it: */
	ino_t ino;			/* a new inode is another agent's write */
	__u64 next_tick;
};

static int rec_cmp(const void *x, const void *y)
{
	return memcmp(((const struct seq_rec *)x)->fp, ((const struct seq_rec *)y)->fp,
		      SEQ_FP_LEN);
}

static int read_secret(struct seqstore *s, char *err, size_t errlen)
{
	char path[240];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/secret", s->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if (getrandom(s->secret, sizeof(s->secret), 0) != sizeof(s->secret))
			return errmsg(err, errlen, -EIO, "no random numbers: %s", strerror(errno));
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return errmsg(err, errlen, -errno, "%s: %s", path, strerror(errno));
		n = write(fd, s->secret, sizeof(s->secret));
		if (n != sizeof(s->secret) || fsync(fd)) {
			close(fd);
			unlink(path);
			return errmsg(err, errlen, -EIO, "%s: %s", path, strerror(errno));
		}
		close(fd);
		return 0;
	}
	if (fd < 0)
		return errmsg(err, errlen, -errno, "%s: %s", path, strerror(errno));
	n = read(fd, s->secret, sizeof(s->secret));
	close(fd);
	if (n != sizeof(s->secret))
		return errmsg(err, errlen, -EBADMSG, "%s: not %zu bytes", path, sizeof(s->secret));
	return 0;
}

/* DIR/seq's records into *recs (*n of them; none when there is no file yet). */
static int read_file(const struct seqstore *s, struct seq_rec **recs, size_t *n, char *err,
		     size_t errlen)
{
	struct seq_file h;
	char path[240];
	FILE *f;

	*recs = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/seq", s->dir);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : errmsg(err, errlen, -errno, "%s: %s", path,
						    strerror(errno));
	if (fread(&h, sizeof(h), 1, f) != 1 || h.magic != SEQ_MAGIC || h.version != 1 ||
	    h.rec_size != sizeof(struct seq_rec) || h.n > (1U << 24))
		goto bad;
	*recs = calloc(h.n + 1, sizeof(**recs));
	if (!*recs) {
		fclose(f);
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	}
	if (fread(*recs, sizeof(**recs), h.n, f) != h.n || fgetc(f) != EOF)
		goto bad;
	*n = h.n;
	fclose(f);
	/* Sorted by fingerprint, for rec_find (a store written before was in key order). */
	qsort(*recs, *n, sizeof(**recs), rec_cmp);
	return 0;
bad:
	fclose(f);
	free(*recs);
	*recs = NULL;
	/* Never guess: a store that does not read back could repeat nonces. */
	return errmsg(err, errlen, -EBADMSG, "%s does not read back as a sequence-number store; "
		      "manual keys are refused until it is fixed (removing it is safe only with "
		      "new keys)", path);
}

/* DIR/seq's identity now (0, 0 when there is none). */
static void file_id(const struct seqstore *s, dev_t *dev, ino_t *ino)
{
	char path[240];
	struct stat st;

	snprintf(path, sizeof(path), "%s/seq", s->dir);
	if (stat(path, &st)) {
		*dev = 0;
		*ino = 0;
		return;
	}
	*dev = st.st_dev;
	*ino = st.st_ino;
}

static int read_recs(struct seqstore *s, char *err, size_t errlen)
{
	int ret;

	file_id(s, &s->dev, &s->ino);
	ret = read_file(s, &s->recs, &s->n, err, errlen);

	s->cap = s->n + !!s->recs;
	return ret;
}

int seqstore_open(struct agent *a, char *err, size_t errlen)
{
	const char *dir = getenv("IPSECIF_LIB_DIR");
	struct seqstore *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	s->lock_fd = -1;
	snprintf(s->dir, sizeof(s->dir), "%s", dir && dir[0] ? dir : SEQSTORE_DIR);
	ret = mkdir_p(s->dir, 0700);
	if (ret)
		ret = errmsg(err, errlen, ret, "%s: %s", s->dir, strerror(-ret));
	if (!ret)
		ret = read_secret(s, err, errlen);
	if (!ret)
		ret = read_recs(s, err, errlen);
	if (ret) {
		explicit_bzero(s->secret, sizeof(s->secret));
		free(s->recs);
		free(s);
		return ret;
	}
	a->seq = s;
	return 0;
}

void seqstore_close(struct agent *a)
{
	if (!a->seq)
		return;
	if (a->seq->lock_fd >= 0)
		close(a->seq->lock_fd);
	explicit_bzero(a->seq->secret, sizeof(a->seq->secret));
	free(a->seq->recs);
	free(a->seq);
	a->seq = NULL;
}

/* The key's fingerprint: its algorithms and material under the store's secret. */
static int fingerprint(const struct seqstore *s, const struct ipsecif_key_params *p,
		       __u8 fp[SEQ_FP_LEN])
{
	__u8 buf[2 + 2 * 64 + 2], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n = 0;

	if (p->enc_key_len > 64 || p->auth_key_len > 64)
		return -EINVAL;
	buf[n++] = p->enc;
	buf[n++] = p->auth;
	buf[n++] = p->enc_key_len;
	memcpy(buf + n, p->enc_key, p->enc_key_len);
	n += p->enc_key_len;
	buf[n++] = p->auth_key_len;
	if (p->auth_key_len)
		memcpy(buf + n, p->auth_key, p->auth_key_len);
	n += p->auth_key_len;
	if (!HMAC(EVP_sha256(), s->secret, sizeof(s->secret), buf, n, md, &mdlen) ||
	    mdlen < SEQ_FP_LEN) {
		explicit_bzero(buf, sizeof(buf));
		return -EIO;
	}
	explicit_bzero(buf, sizeof(buf));
	memcpy(fp, md, SEQ_FP_LEN);
	return 0;
}

/* Key fp's record, found by bisection; with add, made where it sorts (zero numbers). */
static struct seq_rec *rec_find(struct seqstore *s, const __u8 fp[SEQ_FP_LEN], bool add)
{
	size_t lo = 0, hi = s->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = memcmp(fp, s->recs[mid].fp, SEQ_FP_LEN);
		if (!c)
			return &s->recs[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (!add)
		return NULL;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct seq_rec *r = realloc(s->recs, cap * sizeof(*r));

		if (!r)
			return NULL;
		s->recs = r;
		s->cap = cap;
	}
	memmove(&s->recs[lo + 1], &s->recs[lo], (s->n - lo) * sizeof(s->recs[0]));
	memset(&s->recs[lo], 0, sizeof(s->recs[0]));
	memcpy(s->recs[lo].fp, fp, SEQ_FP_LEN);
	s->n++;
	return &s->recs[lo];
}

/*
 * The store locked against the other agents and brought up to date: the
 * file's records merged in, each key's highest number kept (ours may be
 * higher: a reservation whose write failed is skipped, never reused).
 */
static int store_lock(struct seqstore *s, char *err, size_t errlen)
{
	struct seq_rec *recs, *r;
	char path[240];
	size_t n, i;
	dev_t dev;
	ino_t ino;
	int ret;

	if (s->lock_fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "%s/lock", s->dir);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lock_fd < 0)
		return errmsg(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (flock(s->lock_fd, LOCK_EX)) {
		ret = errmsg(err, errlen, -errno, "%s: %s", path, strerror(errno));
		goto unlock;
	}
	/* Every write is a new file renamed in: the one we read or wrote last, unchanged. */
	file_id(s, &dev, &ino);
	if (dev == s->dev && ino == s->ino)
		return 0;
	ret = read_file(s, &recs, &n, err, errlen);
	if (ret)
		goto unlock;
	for (i = 0; i < n; i++) {
		r = rec_find(s, recs[i].fp, true);
		if (!r) {
			ret = errmsg(err, errlen, -ENOMEM, "out of memory");
			break;
		}
		if (recs[i].hwm > r->hwm) {
			r->hwm = recs[i].hwm;
			s->dirty = true;	/* written back as read: harmless */
		}
	}
	free(recs);
	if (!ret) {
		s->dev = dev;
		s->ino = ino;
		return 0;
	}
unlock:
	close(s->lock_fd);
	s->lock_fd = -1;
	return ret;
}

static void store_unlock(struct seqstore *s)
{
	if (s->lock_fd >= 0) {
		close(s->lock_fd);
		s->lock_fd = -1;
	}
}

/*
 * An extension holds as many as the SA has used so far, within bounds:
 * few writes at a high rate, little skipped by a restart at a low one.
 */
static __u64 chunk_for(__u64 used)
{
	return used < SEQSTORE_CHUNK_MIN ? SEQSTORE_CHUNK_MIN :
	       used > SEQSTORE_CHUNK_MAX ? SEQSTORE_CHUNK_MAX : used;
}

int seqstore_fingerprint(struct agent *a, const struct ipsecif_key_params *p, __u8 *fp,
			 char *err, size_t errlen)
{
	if (!a->seq)
		return errmsg(err, errlen, -EROFS, "no sequence-number store (see the agent's log): "
			      "manual keys are refused, since their nonces could repeat");
	if (fingerprint(a->seq, p, fp))
		return errmsg(err, errlen, -EIO, "fingerprinting the key failed");
	return 0;
}

int seqstore_take(struct agent *a, const __u8 *fp, __u64 *start, __u64 *limit)
{
	struct seq_rec *r;
	char err[256];
	int ret;

	if (!a->seq)
		return -EROFS;
	ret = store_lock(a->seq, err, sizeof(err));
	if (ret) {
		logmsg(LOG_ERR, "the sequence-number store: %s", err);
		return ret;
	}
	r = rec_find(a->seq, fp, true);
	if (!r)
		return -ENOMEM;
	/* An SA's first reservation is the least: what a restart skips stays small. */
	*start = r->hwm;
	*limit = r->hwm + SEQSTORE_CHUNK_MIN;
	r->hwm = *limit;
	a->seq->dirty = true;
	return 0;
}

static int write_recs(struct seqstore *s, char *err, size_t errlen)
{
	struct seq_file h = { SEQ_MAGIC, 1, 0, sizeof(struct seq_rec) };
	char path[240], tmp[248];
	bool ok;
	int fd;

	h.n = s->n;
	snprintf(path, sizeof(path), "%s/seq", s->dir);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errmsg(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
	ok = write(fd, &h, sizeof(h)) == sizeof(h) &&
	     write(fd, s->recs, s->n * sizeof(*s->recs)) == (ssize_t)(s->n * sizeof(*s->recs)) &&
	     !fsync(fd);
	ok = !close(fd) && ok;
	if (!ok || rename(tmp, path)) {
		int e = errno ? errno : EIO;

		unlink(tmp);
		return errmsg(err, errlen, -e, "%s: %s", path, strerror(e));
	}
	/* The rename itself is durable once the folder is. */
	fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	file_id(s, &s->dev, &s->ino);	/* under the lock: ours */
	s->dirty = false;
	return 0;
}

int seqstore_sync(struct agent *a, char *err, size_t errlen)
{
	struct seqstore *s = a->seq;
	int ret;

	if (!s)
		return 0;
	if (!s->dirty) {
		store_unlock(s);
		return 0;
	}
	ret = store_lock(s, err, errlen);	/* held already when numbers were taken */
	if (ret)
		return ret;
	ret = write_recs(s, err, errlen);
	store_unlock(s);
	return ret;
}

__u64 seqstore_mark(__u64 seq_now, __u64 limit)
{
	return seq_now + (limit - seq_now) / 2;
}

/* SA t's counter up to at least to, then its limit (seq_raise, bpf/ipsecif.bpf.c). */
static int seq_raise(struct agent *a, const struct table_sa *t, __u64 to, __u64 limit)
{
	struct ipsecif_seq_req req = { .id = t->id, .to = to, .reqid = t->reqid,
				       .seq_limit = limit, .seq_mark = seqstore_mark(to, limit) };
	/* The kernel copies a syscall program's context back into req. */
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &req, .ctx_size_in = sizeof(req));

	if (bpf_prog_test_run_opts(bpf_program__fd(a->skel->progs.seq_raise), &opts))
		return -errno;
	return req.err;
}

void seqstore_extend(struct agent *a, __u32 id)
{
	int out_fd = bpf_map__fd(a->skel->maps.sa_out);
	struct ipsecif_sa_ctr ctr;
	struct ipsecif_sa cur;
	struct seq_rec *r;
	struct table_sa *t;
	char err[256];
	ssize_t i = sadb_by_id(a, id);
	__u64 from, limit, old;
	bool jumped;
	int ret;

	if (i < 0 || !a->t.sas[i].seq_limit || !a->seq)
		return;
	t = &a->t.sas[i];
	if (sa_ctr_read(a, id, &ctr))
		return;
	ret = store_lock(a->seq, err, sizeof(err));
	r = ret ? NULL : rec_find(a->seq, t->seq_fp, false);
	if (!r) {
		logmsg(LOG_ERR, "SA %u: reserving sequence numbers: %s", t->spi,
		       ret ? err : "its key is not in the store");
		store_unlock(a->seq);
		return;
	}
	/*
	 * The numbers after the SA's limit are its next ones unless another
	 * SA of the same key, here or in another agent, took them: then its
	 * next are the key's next, and its counter jumps there.
	 */
	old = r->hwm;
	from = r->hwm > t->seq_limit ? r->hwm : t->seq_limit;
	limit = from + chunk_for(t->seq_limit - t->seq_start);
	r->hwm = limit;
	a->seq->dirty = true;
	if (seqstore_sync(a, err, sizeof(err))) {
		r->hwm = old;	/* not on disk: the next look tries again */
		logmsg(LOG_ERR, "SA %u: reserving sequence numbers: %s", t->spi, err);
		return;
	}
	jumped = from > t->seq_limit;
	if (jumped) {
		ret = seq_raise(a, t, from, limit);
		if (ret) {
			logmsg(LOG_ERR, "SA %u: its counter to %llu: %s: it seals nothing past %llu",
			       t->spi, (unsigned long long)from, strerror(-ret),
			       (unsigned long long)t->seq_limit);
			return;
		}
		logmsg(LOG_NOTICE, "SA %u: another SA of its key holds %llu to %llu: it goes on "
		       "from %llu", t->spi, (unsigned long long)t->seq_limit + 1,
		       (unsigned long long)from, (unsigned long long)from + 1);
		t->seq_start = from;
	}
	t->seq_limit = limit;
	state_sa_changed(a, t);
	a->dirty = true;
	/* After a jump seq_raise has put the new limit in sa_out already. */
	if (!jumped && !bpf_map_lookup_elem(out_fd, &t->reqid, &cur) && cur.id == id) {
		cur.seq_limit = limit;
		cur.seq_mark = seqstore_mark(ctr.seq, limit);
		bpf_map_update_elem(out_fd, &t->reqid, &cur, BPF_EXIST);
	}
	logmsg(LOG_DEBUG, "SA %u: sequence numbers reserved to %llu", t->spi,
	       (unsigned long long)limit);
}

void seqstore_tick(struct agent *a)
{
	int out_fd = bpf_map__fd(a->skel->maps.sa_out);
	__u64 now = mono_ns();
	size_t i;

	if (!a->seq || now < a->seq->next_tick)
		return;
	a->seq->next_tick = now + 1000000000ULL;
	for (i = 0; i < a->t.n_sas; i++) {
		const struct table_sa *t = &a->t.sas[i];
		struct ipsecif_sa_ctr ctr;
		struct ipsecif_sa cur;

		if (!t->seq_limit || bpf_map_lookup_elem(out_fd, &t->reqid, &cur) ||
		    cur.id != t->id || sa_ctr_read(a, t->id, &ctr))
			continue;
		if (ctr.seq >= cur.seq_mark)
			seqstore_extend(a, t->id);
	}
}
