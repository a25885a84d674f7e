#include "watch/watch_actions.h"

#include "prevent/reserved_ports.h"

namespace selfconnect {

std::string HostWatchActions::fix_for(const Record& listener) { return live_fix_command(listener); }

}  // namespace selfconnect
