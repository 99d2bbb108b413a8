/* SPDX-License-Identifier: GPL-2.0-only */
/* --config FILE: interface lines and setkey blocks applied by a fresh agent. */
#ifndef IPSECIF_CONFIG_H
#define IPSECIF_CONFIG_H

#include "agentd.h"

/* 0, or -errno with err naming the file and line. */
int config_apply(struct agent *a, const char *path, char *err, size_t errlen);

#endif /* IPSECIF_CONFIG_H */
