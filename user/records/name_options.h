// Where container names are read (watch and audit alike): the runtimes'
// API sockets and containerd state folders given, or the usual ones.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "host/runtime_names.h"

namespace selfconnect {

struct NameOptions {
    std::vector<std::string> runtime_sockets;   // --runtime-socket: Docker API (Docker, podman)
    std::vector<std::string> containerd_states; // --containerd-state
    bool off = false;                           // --no-container-names
};

// The sources the options name; with none named, the usual ones present.
inline std::vector<std::unique_ptr<NameSource>> name_sources(const NameOptions& o)
{
    if (o.off)
        return {};
    if (o.runtime_sockets.empty() && o.containerd_states.empty())
        return default_name_sources();
    std::vector<std::unique_ptr<NameSource>> sources;
    for (const auto& s : o.runtime_sockets)
        sources.push_back(docker_api_source(s));
    for (const auto& d : o.containerd_states)
        sources.push_back(containerd_state_source(d));
    return sources;
}

}  // namespace selfconnect
