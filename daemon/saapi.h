/* SPDX-License-Identifier: GPL-2.0-only */
/* The key managers' SA operations (CTL_REQ_SA), strongSwan's kernel_ipsec_t seam. */
#ifndef IPSECIF_SAAPI_H
#define IPSECIF_SAAPI_H

#include "agentd.h"
#include "ctl.h"

/* One operation; on success r says the outcome, otherwise err names the problem. */
int saapi_do(struct agent *a, const struct ctl_sa *c, struct ctl_sa_reply *r, char *err,
	     size_t errlen);
/* Does op change what the state file holds? */
bool saapi_changes(__u32 op);

#endif /* IPSECIF_SAAPI_H */
