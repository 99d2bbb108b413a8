// SPDX-License-Identifier: GPL-2.0-only
/*
 * The plugin: it provides "kernel-ipsec" only.  Loaded ahead of
 * kernel-netlink, it is the one IPsec backend charon takes (the first
 * to register wins); kernel-netlink keeps addresses and routes.
 */
#include <daemon.h>
#include "kernel_ipsecif_plugin.h"

typedef struct private_kernel_ipsecif_plugin_t private_kernel_ipsecif_plugin_t;

struct private_kernel_ipsecif_plugin_t {
	kernel_ipsecif_plugin_t public;
};

METHOD(plugin_t, get_name, char *, private_kernel_ipsecif_plugin_t *this)
{
	return "kernel-ipsecif";
}

METHOD(plugin_t, get_features, int, private_kernel_ipsecif_plugin_t *this,
       plugin_feature_t *features[])
{
	static plugin_feature_t f[] = {
		PLUGIN_CALLBACK(kernel_ipsec_register, kernel_ipsecif_ipsec_create),
			PLUGIN_PROVIDE(CUSTOM, "kernel-ipsec"),
	};

	*features = f;
	return countof(f);
}

METHOD(plugin_t, destroy, void, private_kernel_ipsecif_plugin_t *this)
{
	free(this);
}

/* The one symbol charon looks up (the rest is built hidden). */
__attribute__((visibility("default"))) plugin_t *kernel_ipsecif_plugin_create(void);

plugin_t *kernel_ipsecif_plugin_create(void)
{
	private_kernel_ipsecif_plugin_t *this;

	INIT(this,
		.public = {
			.plugin = {
				.get_name = _get_name,
				.get_features = _get_features,
				.destroy = _destroy,
			},
		},
	);
	return &this->public.plugin;
}
