/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The io.pagemeld1.Error.* names live with the rest of the bus contract. */
#include "bus-contract.h"
