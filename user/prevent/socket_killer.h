// --kill: destroys a reported self-connected socket, in whatever network
// namespace it lives, so its owner gets an error and the port is freed.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <utility>

#include "host/sock_diag.h"
#include "records/record.h"

namespace selfconnect {

struct KillResult {
    bool ok = false;
    std::string error;
};

class SocketKiller {
public:
    KillResult destroy(const Record& r);
    // A kept socket holds its namespace alive after its last process is
    // gone, and any user can make namespaces and self-connects in them: so
    // only the few most recently used are kept (a loop in one namespace
    // pays for its socket once), and the rest are closed.
    static constexpr size_t kNamespacesKept = 8;

private:
    SockDiag& diag_for(const Record& r);
    std::list<std::pair<uint32_t, std::unique_ptr<SockDiag>>> recent_;  // most recently used first
};

// The 4-tuple of a self-connected socket described by a record.
TcpSocket self_connected_socket(const Record& r);

}  // namespace selfconnect
