// Who holds a port, asked off the thread that reads the ring: a refused
// bind() or listen() queues a lookup, a worker thread runs the holder
// iterator, and the answers come back through a descriptor the watch loop
// polls. The worker spends at most a tenth of a core (it rests nine times
// as long as each lookup took), the queue is bounded, a lookup already
// queued for the same namespace and port is not queued twice, and one that
// finds the queue full is counted, never dropped silently.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "host/unique_fd.h"
#include "kernel/port_holder_finder.h"
#include "records/record.h"

namespace selfconnect {

struct HolderAnswer {
    Record port_in_use;
    std::vector<HeldSocket> held;
};

class HolderLookups {
public:
    explicit HolderLookups(PortHolderFinder& finder, size_t max_queued = 64);
    ~HolderLookups();
    HolderLookups(const HolderLookups&) = delete;
    HolderLookups& operator=(const HolderLookups&) = delete;

    // Starts the worker, holding only `keep_capabilities` (what reading
    // the iterator needs on this kernel), whatever the main thread kept.
    void start(std::vector<int> keep_capabilities);
    // Queues a lookup; false when the queue was full (counted in dropped()).
    bool ask(const Record& port_in_use);
    // Readable while answers wait.
    int ready_fd() const { return ready_.get(); }
    std::vector<HolderAnswer> take_answers();
    uint64_t dropped() const;

private:
    void work();

    PortHolderFinder& finder_;
    const size_t max_queued_;
    UniqueFd ready_;  // eventfd
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Record> queue_;
    std::vector<HolderAnswer> answers_;
    uint64_t dropped_ = 0;
    bool stopping_ = false;
    std::thread worker_;
};

}  // namespace selfconnect
