/* SPDX-License-Identifier: GPL-2.0-only */
/* The bpffs, the namespace's pin folder (the agent's lock) and the BPF object. */
#ifndef IPSECIF_PINS_H
#define IPSECIF_PINS_H

#include "agentd.h"

/*
 * Lock the pin folder and load the BPF object with its maps pinned there;
 * *adopt says whether an earlier agent's maps were found (and are reused).
 */
int pins_open(struct agent *a, bool *adopt, char *err, size_t errlen);
/*
 * This namespace's cookie beside its state, once the agent is ready: the
 * agents after it tell its pins from a dead namespace's.  A start that
 * fails records none.
 */
void pins_record_cookie(struct agent *a);
/* The namespace's recorded cookie goes (a flush leaves nothing to adopt). */
void pins_forget_cookie(struct agent *a);
/* Unload; with a->flush, the pins and the folder go too.  The lock goes last. */
void pins_close(struct agent *a);
int mkdir_p(const char *path, mode_t mode);

#endif /* IPSECIF_PINS_H */
