/* SPDX-License-Identifier: GPL-2.0-only */
/* What ESP adds to a packet, for ipsecN's MTU. */
#ifndef IPSECIF_MTU_H
#define IPSECIF_MTU_H

#include <stdbool.h>
#include "ipsecif_crypto.h"

#define IPSECIF_MTU_MIN	1280	/* IPv6's minimum link MTU; the BSDs' lower bound */
#define IPSECIF_MTU_MAX	8192

/*
 * Worst-case bytes ESP adds to an inner packet: outer IP header, UDP with
 * NAT-T, ESP header, IV, padding to the suite's block, pad length and
 * next header, ICV.  -EINVAL for an unknown suite or family.
 */
int ipsecif_esp_overhead(enum ipsecif_enc enc, enum ipsecif_auth auth, int outer_family,
			 bool natt);

/*
 * The largest inner packet that leaves as ESP within underlay_mtu: so
 * no ESP packet is fragmented.  -EINVAL as above, -ERANGE when less than
 * IPSECIF_MTU_MIN would remain.
 */
int ipsecif_inner_mtu(int underlay_mtu, enum ipsecif_enc enc, enum ipsecif_auth auth,
		      int outer_family, bool natt);

#endif /* IPSECIF_MTU_H */
