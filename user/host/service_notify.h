// The systemd notify protocol, without libsystemd: one datagram to
// $NOTIFY_SOCKET. A filesystem path or an abstract name ("@...").
#pragma once

#include <string>

namespace selfconnect {

// Sends `state` (e.g. "READY=1") if NOTIFY_SOCKET is set. Returns false with
// `error` set if it is set but the message could not be sent.
bool notify_service_manager(const std::string& state, std::string& error);

}  // namespace selfconnect
