// Builds the sandbox's filesystem from the plan's mount list and pivots into it.
#pragma once
#include "plan.h"

// Runs in init, in its own mount namespace, after the id maps are written. Ends with the new
// root as "/" and the host's root detached. Dies (reporting stage and errno) on failure.
void setup_mounts(const Plan &plan);
