// The systemd notify protocol, without libsystemd: one datagram to
// $NOTIFY_SOCKET. A filesystem path or an abstract name ("@...").
#pragma once

#include <optional>
#include <string>

namespace selfconnect {

// Sends `state` (e.g. "READY=1") if NOTIFY_SOCKET is set. Returns why not,
// if it is set but the message could not be sent.
std::optional<std::string> notify_service_manager(const std::string& state);

}  // namespace selfconnect
