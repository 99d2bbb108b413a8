/* SPDX-License-Identifier: GPL-2.0-only */
/* The data path's events (bpf/events.h) and the key managers that hear of them. */
#ifndef IPSECIF_EVENTS_H
#define IPSECIF_EVENTS_H

#include "agentd.h"
#include "ctl.h"

/* The events ring buffer, read from then on; its fd (for poll) or -1. */
int events_open(struct agent *a);
void events_consume(struct agent *a);
void events_close(struct agent *a);
/* A CTL_REQ_EVENTS connection subscribes: 0, or -EUSERS when there are too many. */
int events_subscribe(struct agent *a, int fd);
/* Subscriber k hung up or misbehaved (any input ends it). */
void events_unsubscribe(struct agent *a, int k);
/* Tell every subscriber; one that does not take it at once is dropped. */
void events_publish(struct agent *a, const struct ctl_event *ev);

#endif /* IPSECIF_EVENTS_H */
