#include "watch/poll_loop.h"

#include <sys/epoll.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace selfconnect {

PollLoop::PollLoop() : epoll_(epoll_create1(EPOLL_CLOEXEC))
{
    if (epoll_.get() < 0)
        throw std::runtime_error(std::string("epoll_create1: ") + strerror(errno));
}

void PollLoop::watch(int fd, std::function<void()> handler)
{
    if (fd < 0)
        return;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
        throw std::runtime_error(std::string("epoll_ctl: ") + strerror(errno));
    handlers_[fd] = std::move(handler);
}

void PollLoop::run(const std::function<int()>& wait_ms, const std::function<void()>& after_each_wake,
                   const std::function<bool()>& done)
{
    std::vector<epoll_event> events(handlers_.empty() ? 1 : handlers_.size());
    while (!stopped_ && !done()) {
        const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), wait_ms());
        if (n < 0 && errno != EINTR)
            throw std::runtime_error(std::string("epoll_wait: ") + strerror(errno));
        for (int i = 0; i < n; ++i) {
            auto it = handlers_.find(events[i].data.fd);
            if (it != handlers_.end())
                it->second();
        }
        after_each_wake();
    }
}

}  // namespace selfconnect
