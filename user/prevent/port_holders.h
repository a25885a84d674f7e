// Which of the sockets on a port keeps a server from it: what turns a
// refused bind() or listen() into a listener_blocked record.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "records/record.h"

namespace selfconnect {

// The socket that keeps a server from `addr`:`port`: a connected one whose
// local address overlaps, self-connected ones first; none where a listener
// overlaps (another server, with the connections it accepted). `held` is
// every TCP socket on that port of the namespace.
std::optional<HeldSocket> blocking_holder(const std::vector<HeldSocket>& held, const std::string& addr);

}  // namespace selfconnect
