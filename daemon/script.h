/* SPDX-License-Identifier: GPL-2.0-only */
/* setkey(8) scripts (daemon/setkey.h parses them) carried out on the SA database. */
#ifndef IPSECIF_SCRIPT_H
#define IPSECIF_SCRIPT_H

#include "agentd.h"
#include "ctl.h"

/* The script in req; what it shows (dumps, warnings) or an error into out. */
int script_run(struct agent *a, const struct ctl_req *req, char *out, size_t len);

#endif /* IPSECIF_SCRIPT_H */
