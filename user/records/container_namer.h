// Container and pod names for records, from the runtimes' own answers
// (host/runtime_names), looked up on a thread of their own so that a slow
// or absent runtime never holds up a record: a record whose container is
// not known yet keeps its id alone, and its lookup is queued (at most 64
// at a time); later records of that container carry the names. A runtime
// that cannot be asked is said once, on stderr.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "host/runtime_names.h"

namespace selfconnect {

class ContainerNamer {
public:
    explicit ContainerNamer(std::vector<std::unique_ptr<NameSource>> sources);
    ~ContainerNamer();
    ContainerNamer(const ContainerNamer&) = delete;
    ContainerNamer& operator=(const ContainerNamer&) = delete;

    // Starts the lookup thread (after the watcher dropped its capabilities:
    // it needs none).
    void start();
    // The names of container `id` if known now; otherwise nothing, and a
    // lookup is queued. With `wait` (a one-shot audit), waits up to that
    // long for the answer instead.
    std::optional<ContainerNames> names_of(const std::string& id,
                                           std::chrono::milliseconds wait = std::chrono::milliseconds(0));
    bool has_sources() const { return !sources_.empty(); }

private:
    struct Entry {
        std::optional<ContainerNames> names;  // nothing: no runtime knows it
        std::chrono::steady_clock::time_point looked_at;
        bool pending = false;
    };
    void run();
    std::optional<ContainerNames> ask_sources(const std::string& id);

    std::vector<std::unique_ptr<NameSource>> sources_;
    std::vector<bool> said_unreachable_;
    std::mutex mutex_;
    std::condition_variable wake_;      // the thread: work, or stop
    std::condition_variable answered_;  // waiters: an answer came
    std::deque<std::string> queue_;
    std::unordered_map<std::string, Entry> cache_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace selfconnect
