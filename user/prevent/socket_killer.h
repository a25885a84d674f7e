// --kill: destroys a reported self-connected socket, in whatever network
// namespace it lives, so its owner gets an error and the port is freed.
#pragma once

#include <map>
#include <memory>
#include <string>

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

private:
    std::map<uint32_t, std::unique_ptr<SockDiag>> by_netns_;
};

// The 4-tuple of a self-connected socket described by a record.
TcpSocket self_connected_socket(const Record& r);

}  // namespace selfconnect
