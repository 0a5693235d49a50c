/* SPDX-License-Identifier: Apache-2.0 */
/* macula-c: everything in one include. */
#ifndef MACULA_H
#define MACULA_H
#include "macula/common.h"
#include "macula/identity.h"
#include "macula/value.h"
#include "macula/frame.h"
#include "macula/runtime.h"
#include "macula/quic.h"
#include "macula/peering.h"
#endif
