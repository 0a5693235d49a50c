/* SPDX-License-Identifier: Apache-2.0 */
/* Library-internal identity helpers. */
#ifndef MACULA_IDENTITY_INTERNAL_H
#define MACULA_IDENTITY_INTERNAL_H

#include "macula/identity.h"

/* A copy of id (seed and derived keys) without deriving the key pair
 * again: from_seed costs a scalar multiplication (about one signature),
 * and every peer, worker and template used to pay it per connection. */
macula_identity *macula__identity_dup(const macula_identity *id, int *err);

#endif
