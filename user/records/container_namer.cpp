#include "records/container_namer.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cstdio>

#include "host/capabilities.h"

namespace selfconnect {

namespace {
using Clock = std::chrono::steady_clock;
constexpr size_t kQueueLimit = 64;
// Running containers are few (a node runs a few hundred); containers
// asked about that no runtime knew are forgotten first when this is met.
constexpr size_t kCacheLimit = 16384;
// A container no runtime knew is asked about again after this long: its
// runtime may not have written it down yet.
constexpr auto kRetryUnknownAfter = std::chrono::seconds(10);
// A stream that ended (the runtime restarted) is followed again after 1 s,
// then after twice as long each time it fails, up to this.
constexpr auto kLongestPause = std::chrono::seconds(30);
}  // namespace

ContainerNamer::ContainerNamer(std::vector<std::unique_ptr<NameSource>> sources)
    : sources_(std::move(sources)), said_unreachable_(sources_.size(), false),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC))
{
}

ContainerNamer::~ContainerNamer()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake();
    if (thread_.joinable())
        thread_.join();
}

void ContainerNamer::wake()
{
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_.get(), &one, sizeof(one));
}

void ContainerNamer::start(Changes changes)
{
    if (!sources_.empty() && !thread_.joinable())
        thread_ = std::thread([this, changes] { run(changes); });
}

std::optional<ContainerNames> ContainerNamer::names_of(const std::string& id, std::chrono::milliseconds wait)
{
    if (sources_.empty())
        return std::nullopt;
    std::unique_lock<std::mutex> lock(mutex_);
    const auto now = Clock::now();
    auto it = cache_.find(id);
    if (it != cache_.end() && (it->second.names || it->second.pending || now - it->second.looked_at < kRetryUnknownAfter)) {
        if (!it->second.pending || wait.count() == 0)
            return it->second.names;
    } else {
        if (queue_.size() >= kQueueLimit)
            return std::nullopt;  // asked again by the container's next record
        if (cache_.size() >= kCacheLimit)
            std::erase_if(cache_, [](const auto& e) { return !e.second.names && !e.second.pending; });
        if (cache_.size() >= kCacheLimit)
            return std::nullopt;
        Entry& e = cache_[id];
        e.looked_at = now;
        e.pending = true;
        queue_.push_back(id);
        wake();
    }
    if (wait.count() == 0)
        return std::nullopt;
    answered_.wait_for(lock, wait, [&] { return !cache_[id].pending; });
    return cache_[id].names;
}

std::optional<KnownContainer> ContainerNamer::container_at(const std::string& cgroup_path)
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (at_path_.empty())
        return std::nullopt;
    // The path itself, then each ancestor: a container's own sub-cgroups
    // (init.scope under a systemd inside it) count as it.
    for (std::string path = cgroup_path; path.size() > 1;) {
        if (auto at = at_path_.find(path); at != at_path_.end()) {
            const auto e = cache_.find(at->second);
            if (e != cache_.end() && e->second.names)
                return KnownContainer{at->second, *e->second.names, path};
        }
        const auto slash = path.rfind('/');
        if (slash == std::string::npos || slash == 0)
            break;
        path.resize(slash);
    }
    return std::nullopt;
}

void ContainerNamer::say_unreachable(size_t source, const RuntimeUnreachable& e)
{
    if (said_unreachable_[source])
        return;
    said_unreachable_[source] = true;
    std::fprintf(stderr, "selfconnect: cannot read container names from %s (%s); records keep the container id "
                         "alone\n",
                 sources_[source]->where().c_str(), e.what());
}

std::optional<ContainerNames> ContainerNamer::ask_sources(const std::string& id, size_t& from)
{
    for (size_t i = 0; i < sources_.size(); ++i) {
        try {
            if (auto names = sources_[i]->names_of(id)) {
                from = i;
                return names;
            }
        } catch (const RuntimeUnreachable& e) {
            say_unreachable(i, e);
        }
    }
    return std::nullopt;
}

void ContainerNamer::learn(size_t source, KnownContainer c)
{
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache_.find(c.id);
    if (it == cache_.end() && cache_.size() >= kCacheLimit) {
        std::erase_if(cache_, [](const auto& e) { return !e.second.names && !e.second.pending; });
        if (cache_.size() >= kCacheLimit)
            return;
    }
    Entry& e = cache_[c.id];
    // Docker's containers are containerd's too (namespace moby), where
    // their spec names them by id alone: the earlier source says.
    if (e.names && e.from < source)
        return;
    if (e.cgroup_path && c.cgroup_path)
        at_path_.erase(*e.cgroup_path);
    e.names = std::move(c.names);
    e.from = source;
    e.looked_at = Clock::now();
    if (c.cgroup_path)  // a lookup by id does not say it: kept
        e.cgroup_path = std::move(c.cgroup_path);
    if (e.cgroup_path)
        at_path_[*e.cgroup_path] = c.id;
    if (e.pending) {
        e.pending = false;
        answered_.notify_all();
    }
}

void ContainerNamer::forget(size_t source, const std::string& id)
{
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = cache_.find(id);
    if (it == cache_.end() || it->second.pending || (it->second.names && it->second.from != source))
        return;
    if (it->second.cgroup_path)
        at_path_.erase(*it->second.cgroup_path);
    cache_.erase(it);
}

// Follows `source` (when a follower is given) and then reads what it runs:
// in that order, a container made in between is told of by both.
void ContainerNamer::catch_up(size_t source, Follower* follower)
{
    try {
        if (follower)
            follower->events = sources_[source]->follow();
        for (auto& c : sources_[source]->list())
            learn(source, std::move(c));
        if (follower)
            follower->pause = std::chrono::seconds(1);
    } catch (const RuntimeUnreachable& e) {
        say_unreachable(source, e);
        if (follower) {
            follower->events.reset();
            follower->retry_at = Clock::now() + follower->pause;
            follower->pause = std::min<std::chrono::seconds>(follower->pause * 2, kLongestPause);
        }
    }
}

void ContainerNamer::read_changes(size_t source, Follower& follower)
{
    std::vector<RuntimeChange> changes;
    try {
        changes = follower.events->read();
    } catch (const RuntimeUnreachable&) {
        // It restarted, or missed changes: followed and read again soon,
        // and said if that fails.
        follower.events.reset();
        follower.retry_at = Clock::now() + follower.pause;
        return;
    }
    for (auto& change : changes) {
        if (change.kind == RuntimeChange::Kind::Gone) {
            forget(source, change.id);
        } else if (change.known) {
            learn(source, std::move(*change.known));
        } else {
            try {
                if (auto names = sources_[source]->names_of(change.id))
                    learn(source, KnownContainer{change.id, std::move(*names), std::nullopt});
            } catch (const RuntimeUnreachable& e) {
                say_unreachable(source, e);
            }
        }
    }
}

void ContainerNamer::wait_for_running(std::chrono::milliseconds bound)
{
    std::unique_lock<std::mutex> lock(mutex_);
    if (thread_.joinable())
        answered_.wait_for(lock, bound, [&] { return running_read_; });
}

void ContainerNamer::run(Changes changes)
{
    if (auto err = drop_this_threads_capabilities()) {
        std::fprintf(stderr, "selfconnect: %s; container names are not read\n", err->c_str());
        std::lock_guard<std::mutex> lock(mutex_);
        running_read_ = true;
        answered_.notify_all();
        return;
    }
    std::vector<Follower> followers(changes == Changes::Followed ? sources_.size() : 0);
    for (size_t i = 0; i < sources_.size(); ++i)
        catch_up(i, followers.empty() ? nullptr : &followers[i]);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        running_read_ = true;
        answered_.notify_all();
    }
    for (;;) {
        std::vector<pollfd> fds{{wake_fd_.get(), POLLIN, 0}};
        std::vector<size_t> of;  // fds[k + 1] is source of[k]'s
        int timeout = -1;
        const auto now = Clock::now();
        for (size_t i = 0; i < followers.size(); ++i) {
            if (followers[i].events) {
                fds.push_back({followers[i].events->fd(), POLLIN, 0});
                of.push_back(i);
                continue;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(followers[i].retry_at - now);
            const int ms = static_cast<int>(std::max<int64_t>(left.count(), 0));
            timeout = timeout < 0 ? ms : std::min(timeout, ms);
        }
        poll(fds.data(), fds.size(), timeout);
        uint64_t drained;
        [[maybe_unused]] ssize_t n = read(wake_fd_.get(), &drained, sizeof(drained));
        for (;;) {
            std::unique_lock<std::mutex> lock(mutex_);
            if (stop_)
                return;
            if (queue_.empty())
                break;
            const std::string id = queue_.front();
            queue_.pop_front();
            lock.unlock();
            size_t from = SIZE_MAX;
            std::optional<ContainerNames> names = ask_sources(id, from);
            if (names) {
                learn(from, KnownContainer{id, std::move(*names), std::nullopt});
                continue;
            }
            lock.lock();
            Entry& e = cache_[id];
            e.looked_at = Clock::now();
            e.pending = false;
            answered_.notify_all();
        }
        for (size_t k = 0; k < of.size(); ++k)
            if (fds[k + 1].revents)
                read_changes(of[k], followers[of[k]]);
        for (size_t i = 0; i < followers.size(); ++i)
            if (!followers[i].events && Clock::now() >= followers[i].retry_at)
                catch_up(i, &followers[i]);
    }
}

}  // namespace selfconnect
