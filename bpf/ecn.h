/* SPDX-License-Identifier: GPL-2.0-only */
/* ECN through the tunnel, RFC 6040. */
#ifndef IPSECIF_ECN_H
#define IPSECIF_ECN_H

#include "common.h"

#define ECN_NOT_ECT	0
#define ECN_ECT1	1
#define ECN_ECT0	2
#define ECN_CE		3

/*
 * Encapsulation (§4.1): normal mode (link1) copies the inner ECN field to
 * the outer header, CE included; compatibility mode sets Not-ECT.
 */
static __always_inline __u8 ecn_encap(__u8 inner, bool normal)
{
	return normal ? inner & 3 : ECN_NOT_ECT;
}

/*
 * Decapsulation (§4.2, Figure 4), the same in both modes: the ECN field
 * for the inner header, or -1 to drop (CE arriving on a Not-ECT inner).
 */
static __always_inline int ecn_decap(__u8 inner, __u8 outer)
{
	inner &= 3;
	outer &= 3;
	if (inner == ECN_NOT_ECT)
		return outer == ECN_CE ? -1 : ECN_NOT_ECT;
	if (outer == ECN_CE)
		return ECN_CE;
	if (outer == ECN_ECT1 && inner == ECN_ECT0)
		return ECN_ECT1;
	return inner;
}

#endif /* IPSECIF_ECN_H */
