// `selfconnect watch`: attach, stream records until stopped, summarise.
#pragma once

#include "watch/watch_options.h"

namespace selfconnect {

// Returns the process exit status: 0 on a normal stop, 2 on an error.
int run_watch(const WatchOptions& options);

}  // namespace selfconnect
