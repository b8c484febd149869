// init's work once the sandbox is built: runs, one after another, in the namespaces and filesystem
// it built once.
#pragma once
#include "plan.h"

// Called by init after setup. Never returns.
[[noreturn]] void serve(const Plan &plan);
