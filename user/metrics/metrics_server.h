// Serves GET /metrics on a thread of its own, to any number of clients at
// once, none of which can hold it: one event loop over non-blocking
// sockets, a total deadline per connection (not per read), a bounded head,
// and a bounded number of connections, the oldest dropped to make room.
// The socket is bound in the constructor, so a privileged port can be
// taken before capabilities are dropped; the thread is started by start(),
// after the drop, because capabilities are per thread: started before, it
// would keep every one of them.
// Written here rather than taken from Debian's cpp-httplib, which is built
// with OpenSSL: linking it added ~4 MiB to the daemon's resident memory,
// metrics or not.
#pragma once

#include <chrono>
#include <thread>

#include "host/unique_fd.h"
#include "metrics/metrics.h"

namespace selfconnect {

struct MetricsServerLimits {
    // From accept to the last byte of the response: a scrape needs
    // milliseconds, a client that trickles its head is cut off here.
    std::chrono::milliseconds deadline{1000};
    size_t max_connections = 64;  // beyond: the oldest connection is dropped
    size_t max_head_bytes = 8192; // beyond: 431 and closed
};

class MetricsServer {
public:
    MetricsServer(const ListenAddress& where, const Metrics& metrics, MetricsServerLimits limits = {});
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;
    // Serves from here on, on a thread of its own that holds no
    // capability, whatever the watcher kept for --kill or --protect.
    void start();

private:
    void serve();

    const Metrics& metrics_;
    const MetricsServerLimits limits_;
    UniqueFd listener_;
    UniqueFd wake_;  // eventfd: tells serve() to stop
    std::thread thread_;
};

}  // namespace selfconnect
