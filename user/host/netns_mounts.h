// The folders where network namespaces are bind-mounted as they are made
// (`ip netns add`, CNI plugins and rootful podman: /run/netns; Docker:
// /run/docker/netns), watched with inotify. A container's namespace appears
// there before any process of the container runs, so the guard can be on
// its loopback before the first connect(). A name appears before its bind
// mount does: one that is not a namespace yet is tried again, for a while.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "host/unique_fd.h"

namespace selfconnect {

class NetnsMounts {
public:
    NetnsMounts();
    // Readable when something was made in a folder watched (-1: inotify
    // is not available; nothing is watched).
    int fd() const { return fd_.get(); }
    // Paths that are network namespaces now, made since the last call.
    std::vector<std::string> take_new();
    // Are names waiting for their bind mount? Then take_new() should be
    // called again soon (a few milliseconds).
    bool waiting() const { return !waiting_.empty(); }

private:
    void watch(const std::string& dir);
    void read_events();

    UniqueFd fd_;
    int run_watch_ = -1;                  // /run, while /run/netns is missing
    std::map<int, std::string> folders_;  // watch descriptor -> folder
    std::map<std::string, std::chrono::steady_clock::time_point> waiting_;  // path -> since
};

// Is `path` a network namespace (a bind mount of nsfs)?
bool is_netns_path(const std::string& path);

}  // namespace selfconnect
