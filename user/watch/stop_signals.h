// What ends or steers a watch, as descriptors for its poll loop: signals
// arrive as readable data, so a stop is handled between events, never
// inside one; --duration is a timer.
#pragma once

#include "host/unique_fd.h"

namespace selfconnect {

// Blocks SIGINT, SIGTERM (stop) and SIGHUP (reopen --output) and returns a
// signalfd that reports them.
UniqueFd block_stop_signals();

// Which signal is waiting on the signalfd, or 0.
int take_signal(int fd);

// Readable once `seconds` have passed.
UniqueFd deadline_timer(double seconds);

}  // namespace selfconnect
