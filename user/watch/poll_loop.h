// The watch's one thread of events: it waits on the descriptors it was
// given (the ring buffer, signals, the deadline, the holder lookups'
// answers, new namespace mounts), calls each one's handler when it is
// readable, and after every wake (an event or the timeout) runs the work
// that follows the clock (losses, folds, healing). Handlers never block.
#pragma once

#include <functional>
#include <map>

#include "host/unique_fd.h"

namespace selfconnect {

class PollLoop {
public:
    PollLoop();
    PollLoop(const PollLoop&) = delete;
    PollLoop& operator=(const PollLoop&) = delete;

    // `handler` runs each time `fd` is readable. A negative fd is a source
    // this run does not have: ignored.
    void watch(int fd, std::function<void()> handler);
    // Ends the run once this wake's handlers and its after-work are done.
    void stop() { stopped_ = true; }
    // Until stop() or done(): waits at most wait_ms() for a descriptor,
    // calls the handlers of those readable, then after_each_wake(). An
    // interrupted wait is a wake like any other; a failed one throws.
    void run(const std::function<int()>& wait_ms, const std::function<void()>& after_each_wake,
             const std::function<bool()>& done);

private:
    UniqueFd epoll_;
    std::map<int, std::function<void()>> handlers_;
    bool stopped_ = false;
};

}  // namespace selfconnect
