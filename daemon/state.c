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
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "errmsg.h"
#include "pins.h"
#include "state.h"

#define STATE_MAGIC	0x53535049	/* "IPSS" */

struct state_hdr {
	__u32 magic;
	__u32 version;
	__u32 n_ifaces, n_sas, next_sa_id, n_xdp;
	__u32 iface_size, sa_size;
};

static void state_path(const struct agent *a, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", STATE_DIR, strrchr(a->pin_dir, '/') + 1);
}

void state_save(struct agent *a)
{
	struct state_hdr h = { STATE_MAGIC, 2, a->t.n_ifaces, a->t.n_sas, a->next_sa_id,
			       a->n_xdp, sizeof(struct table_iface), sizeof(struct table_sa) };
	char path[192], tmp[200];
	__u32 n_lan = a->n_lan;
	FILE *f;
	bool ok;
	int fd;

	mkdir_p(RUN_DIR, 0700);
	/* Root's alone, whatever made the folder first and whatever the umask. */
	if (mkdir_p(STATE_DIR, 0700) || chmod(STATE_DIR, 0700))
		logmsg(LOG_WARNING, "%s: %s: %s", __func__, STATE_DIR, strerror(errno));
	state_path(a, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
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
	if (!ok || rename(tmp, path))
		logmsg(LOG_ERR, "%s: %s: %s", __func__, path, strerror(errno));
}

/*
 * A state file that does not read back whole (truncated, edited, another
 * version) stops the start: adopting half the tables would leave SAs in
 * the maps that no one owns.  No file is fine: the agent before never
 * changed anything.
 */
int state_load(struct agent *a, char *err, size_t errlen)
{
	struct state_hdr h;
	char path[192];
	__u32 n_lan = 0;
	size_t i;
	FILE *f;
	int ret = -EBADMSG;

	state_path(a, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : errmsg(err, errlen, -errno, "%s: %s", path,
						    strerror(errno));
	/* Version 1 is version 2 without the LAN devices: an upgrade adopts it. */
	if (fread(&h, sizeof(h), 1, f) != 1 || h.magic != STATE_MAGIC ||
	    (h.version != 1 && h.version != 2) ||
	    h.iface_size != sizeof(struct table_iface) || h.sa_size != sizeof(struct table_sa) ||
	    h.n_ifaces > IPSECIF_MAX_IFACES || h.n_sas > IPSECIF_MAX_SAS || h.n_xdp > MAX_XDP_DEVS)
		goto bad;
	for (i = 0; i < h.n_ifaces; i++) {
		struct table_iface fi;

		if (fread(&fi, sizeof(fi), 1, f) != 1)
			goto bad;
		fi.name[sizeof(fi.name) - 1] = 0;
		if (table_create(&a->t, fi.name, fi.reqid, NULL, 0))
			goto bad;
		*table_find(&a->t, fi.name) = fi;
	}
	for (i = 0; i < h.n_sas; i++) {
		struct table_sa sa;

		if (fread(&sa, sizeof(sa), 1, f) != 1 || table_sa_add(&a->t, &sa, NULL, 0))
			goto bad;
	}
	for (i = 0; i < h.n_xdp; i++, a->n_xdp++)
		if (fread(&a->xdp_devs[a->n_xdp], sizeof(int), 1, f) != 1)
			goto bad;
	if (h.version >= 2 && (fread(&n_lan, sizeof(n_lan), 1, f) != 1 || n_lan > MAX_XDP_DEVS))
		goto bad;
	for (i = 0; i < n_lan; i++, a->n_lan++)
		if (fread(&a->lan_devs[a->n_lan], sizeof(int), 1, f) != 1)
			goto bad;
	if (fgetc(f) != EOF)
		goto bad;
	a->next_sa_id = h.next_sa_id;
	fclose(f);
	logmsg(LOG_INFO, "adopted %zu interfaces and %zu SAs", a->t.n_ifaces, a->t.n_sas);
	return 0;
bad:
	fclose(f);
	table_free(&a->t);
	table_init(&a->t);
	a->n_xdp = 0;
	a->n_lan = 0;
	return errmsg(err, errlen, ret, "%s does not read back as this agent's state; "
		      "remove it and %s to start afresh", path, a->pin_dir);
}

void state_remove(struct agent *a)
{
	char path[192];

	state_path(a, path, sizeof(path));
	unlink(path);
	rmdir(STATE_DIR);	/* only when no other namespace's agent keeps one */
}
