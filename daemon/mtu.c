// SPDX-License-Identifier: GPL-2.0-only
/* ESP overhead and ipsecN's MTU (RFC 4303 §2; the data path in bpf/esp_out.h). */
#include <errno.h>
#include <sys/socket.h>
#include "mtu.h"

int ipsecif_esp_overhead(enum ipsecif_enc enc, enum ipsecif_auth auth, int outer_family,
			 bool natt)
{
	int n;

	switch (outer_family) {
	case AF_INET:
		n = 20;
		break;
	case AF_INET6:
		n = 40;
		break;
	default:
		return -EINVAL;
	}
	if (natt)
		n += 8;				/* RFC 3948 §2.1 */
	n += 8;					/* SPI, sequence number */
	switch (enc) {
	case IPSECIF_ENC_AES_CBC:
		/* 16-byte IV; text padded to 16: up to 15 bytes plus 2 of trailer */
		n += IPSECIF_CBC_IV_LEN + 15 + 2;
		if (auth == IPSECIF_AUTH_HMAC_SHA256_128)
			n += 16;
		else if (auth == IPSECIF_AUTH_HMAC_SHA1_96)
			n += 12;
		else if (auth != IPSECIF_AUTH_NONE)
			return -EINVAL;
		return n;
	case IPSECIF_ENC_AES_GCM16:
	case IPSECIF_ENC_CHACHA20_POLY1305:
		/* 8-byte IV; text padded to 4; 16-byte ICV */
		return n + IPSECIF_AEAD_IV_LEN + 3 + 2 + IPSECIF_AEAD_ICV_LEN;
	default:
		return -EINVAL;
	}
}

int ipsecif_inner_mtu(int underlay_mtu, enum ipsecif_enc enc, enum ipsecif_auth auth,
		      int outer_family, bool natt)
{
	int o = ipsecif_esp_overhead(enc, auth, outer_family, natt), mtu;

	if (o < 0)
		return o;
	mtu = underlay_mtu - o;
	if (mtu > IPSECIF_MTU_MAX)
		mtu = IPSECIF_MTU_MAX;
	return mtu < IPSECIF_MTU_MIN ? -ERANGE : mtu;
}
