// A warm sandbox's init: runs, one after another, in the namespaces and filesystem it built once.
#pragma once
#include "plan.h"

// Called by init after setup instead of running a command (wire::kServeRuns). Never returns.
[[noreturn]] void serve(const Plan &plan);
