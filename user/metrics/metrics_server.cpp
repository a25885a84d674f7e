#include "metrics/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <list>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "host/capabilities.h"

namespace selfconnect {

namespace {

using Clock = std::chrono::steady_clock;

// How long the listener rests when accept() cannot make a descriptor.
constexpr std::chrono::milliseconds kAcceptPause{100};
// Connections accepted before the loop looks at its other work again.
constexpr size_t kAcceptsPerRound = 32;

// accept()'s errors that concern only the connection it tried to take
// (accept(2): they are to be treated like EAGAIN, by trying again).
bool accept_again(int err)
{
    switch (err) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

struct Connection {
    UniqueFd fd;
    Clock::time_point deadline;
    std::string head;      // what the client sent so far
    std::string response;  // once the head is complete
    size_t sent = 0;
    std::list<int>::iterator age;  // its place in the accept order
};

const char kHeadTooLarge[] =
    "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n"
    "Connection: close\r\n\r\nhead too large\n";

// Reads what is there; returns false when the connection is done with.
bool read_head(Connection& c, const Metrics& metrics, size_t max_head)
{
    char buf[2048];
    for (;;) {
        const ssize_t n = recv(c.fd.get(), buf, sizeof(buf), 0);
        if (n == 0)
            return false;  // the client went away before asking
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        c.head.append(buf, static_cast<size_t>(n));
        if (c.head.find("\r\n\r\n") != std::string::npos) {
            c.response = http_response_for(c.head, metrics);
            return true;
        }
        if (c.head.size() > max_head) {
            c.response = kHeadTooLarge;
            return true;
        }
    }
}

// Sends what the socket takes; returns false when the connection is done.
bool send_response(Connection& c)
{
    while (c.sent < c.response.size()) {
        const ssize_t n = send(c.fd.get(), c.response.data() + c.sent, c.response.size() - c.sent, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        c.sent += static_cast<size_t>(n);
    }
    shutdown(c.fd.get(), SHUT_WR);
    return false;
}

// Descriptors this process may still open: RLIMIT_NOFILE less those open.
size_t descriptors_left()
{
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return SIZE_MAX;
    size_t open = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        ++open;
    if (ec)
        return 0;  // cannot tell (out of descriptors already?): the fewest
    return limit.rlim_cur > open ? static_cast<size_t>(limit.rlim_cur) - open : 0;
}

UniqueFd bind_listener(const ListenAddress& where)
{
    sockaddr_storage addr{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (inet_pton(AF_INET, where.host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(where.port);
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, where.host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(where.port);
        len = sizeof(*v6);
    } else {
        throw std::runtime_error("--metrics: '" + where.host + "' is not an IP address");
    }
    UniqueFd fd(socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    const int one = 1;
    if (fd) {
        setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        // A connection reaches accept() once its request has come (or after
        // a second): a client that connects and says nothing costs the
        // endpoint no descriptor meanwhile, and a scrape is answered in the
        // turn it is accepted.
        setsockopt(fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof(one));
    }
    if (!fd || bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd.get(), 128) != 0)
        throw std::runtime_error("cannot serve metrics on " + where.host + ":" + std::to_string(where.port) + ": " +
                                 strerror(errno));
    return fd;
}

}  // namespace

MetricsServer::MetricsServer(const ListenAddress& where, const Metrics& metrics, MetricsServerLimits limits)
    : metrics_(metrics), limits_(limits), listener_(bind_listener(where)), wake_(eventfd(0, EFD_CLOEXEC))
{
}

void MetricsServer::start()
{
    if (thread_.joinable())
        return;
    // Returns once the thread holds no capability: it serves nothing before.
    std::promise<void> dropped;
    thread_ = std::thread([this, &dropped] {
        if (auto err = drop_this_threads_capabilities())
            std::fprintf(stderr, "selfconnect: %s\n", err->c_str());
        dropped.set_value();
        serve();
    });
    dropped.get_future().wait();
}

MetricsServer::~MetricsServer()
{
    const uint64_t one = 1;
    (void)!write(wake_.get(), &one, sizeof(one));
    if (thread_.joinable())
        thread_.join();
}

void MetricsServer::serve()
{
    UniqueFd poller(epoll_create1(EPOLL_CLOEXEC));
    auto watch = [&](int fd, uint32_t events, int op) {
        epoll_event ev{};
        ev.events = events;
        ev.data.fd = fd;
        epoll_ctl(poller.get(), op, fd, &ev);
    };
    watch(listener_.get(), EPOLLIN, EPOLL_CTL_ADD);
    watch(wake_.get(), EPOLLIN, EPOLL_CTL_ADD);

    // Out of descriptors (EMFILE and the like), the listener stays readable:
    // it is left out of the poll instead of spinning, until a connection
    // closes and gives a descriptor back, or for a moment when none does
    // (the descriptors may be the process's other threads').
    bool listener_paused = false;
    Clock::time_point listener_paused_until{};
    auto pause_listener = [&] {
        watch(listener_.get(), 0, EPOLL_CTL_MOD);
        listener_paused = true;
        listener_paused_until = Clock::now() + kAcceptPause;
    };
    auto resume_listener = [&] {
        listener_paused = false;
        watch(listener_.get(), EPOLLIN, EPOLL_CTL_MOD);
    };

    std::unordered_map<int, Connection> connections;
    std::list<int> by_age;  // oldest first: deadlines come in this order too
    auto drop = [&](int fd) {
        auto it = connections.find(fd);
        by_age.erase(it->second.age);
        connections.erase(it);  // closes it, which also takes it out of epoll
        if (listener_paused)
            resume_listener();  // a descriptor came back: the clients waiting in the backlog need it
    };

    // Reads a connection's head and sends its answer as far as the socket
    // lets; drops it once done with.
    auto serve_connection = [&](int fd) {
        auto it = connections.find(fd);
        if (it == connections.end())
            return;  // dropped earlier in this round
        Connection& c = it->second;
        bool keep = c.response.empty() ? read_head(c, metrics_, limits_.max_head_bytes) : true;
        if (keep && !c.response.empty()) {
            keep = send_response(c);
            if (keep)
                watch(fd, EPOLLOUT, EPOLL_CTL_MOD);
        }
        if (!keep)
            drop(fd);
    };

    // The oldest connection that has been answered nothing yet: the one to
    // give up for room. One being answered is never cut off.
    auto oldest_idle = [&]() -> std::optional<int> {
        for (int fd : by_age)
            if (connections.at(fd).response.empty())
                return fd;
        return std::nullopt;
    };

    // The watcher's other work (--kill, --protect, the guard) needs
    // descriptors too: the endpoint holds at most a quarter of those left
    // at its start, and never more than its limit.
    const size_t max_connections =
        std::clamp<size_t>(descriptors_left() / 4, 1, std::max<size_t>(1, limits_.max_connections));

    // Takes what the backlog holds, at most a round's worth: a stream of
    // connects must not keep the loop from shutdown, deadlines and answers
    // being sent.
    auto accept_round = [&] {
        for (size_t accepted = 0; accepted < kAcceptsPerRound; ++accepted) {
            UniqueFd client(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
            if (!client) {
                const int err = errno;
                if (accept_again(err))
                    continue;  // that connection is gone; the next may not be
                if (err == EAGAIN || err == EWOULDBLOCK)
                    return;
                // Out of this process's descriptors: a connection that was
                // sent nothing gives its own back (no client can hold the
                // endpoint by holding what descriptors there are); none
                // such, or another error, the listener rests.
                if (const auto idle = err == EMFILE ? oldest_idle() : std::nullopt) {
                    drop(*idle);
                    continue;
                }
                pause_listener();
                return;
            }
            if (connections.size() >= max_connections)
                drop(oldest_idle().value_or(by_age.front()));  // most likely a client that stalls
            const int cfd = client.get();
            by_age.push_back(cfd);
            Connection c{std::move(client), Clock::now() + limits_.deadline, {}, {}, 0, std::prev(by_age.end())};
            connections.emplace(cfd, std::move(c));
            watch(cfd, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
            // A scraper sends its request with its connect: answered now,
            // it needs no descriptor past this round.
            serve_connection(cfd);
        }
    };

    for (;;) {
        int timeout_ms = -1;
        const auto wait_until = [&](Clock::time_point t) {
            const auto left = t - Clock::now();
            const int ms = std::max<int>(0, static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count()));
            timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
        };
        if (!by_age.empty())
            wait_until(connections.at(by_age.front()).deadline);
        if (listener_paused)
            wait_until(listener_paused_until);
        epoll_event events[32];
        const int n = epoll_wait(poller.get(), events, 32, timeout_ms);
        if (n < 0 && errno != EINTR)
            return;
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == wake_.get())
                return;
            if (fd == listener_.get()) {
                accept_round();
                continue;
            }
            serve_connection(fd);
        }
        const auto now = Clock::now();
        while (!by_age.empty() && connections.at(by_age.front()).deadline <= now)
            drop(by_age.front());
        if (listener_paused && listener_paused_until <= now)
            resume_listener();
    }
}

}  // namespace selfconnect
