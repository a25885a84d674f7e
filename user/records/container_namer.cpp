#include "records/container_namer.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "host/capabilities.h"

namespace selfconnect {

namespace {
using Clock = std::chrono::steady_clock;
constexpr size_t kQueueLimit = 64;
// Running containers are few (a node runs a few hundred); when this is
// met, containers no runtime knew are forgotten first, then the eighth
// looked at longest ago.
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
        make_room();
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
    // Read in a cgroup namespace of its own (a pod's), a path outside it
    // begins with "/..": what follows is its path below the ancestor it
    // shares with the pod's, which is the host's path when that is the root.
    std::string_view from_root = cgroup_path;
    while (from_root.rfind("/../", 0) == 0)
        from_root.remove_prefix(3);
    // The path itself, then each ancestor: a container's own sub-cgroups
    // (init.scope under a systemd inside it) count as it.
    for (std::string path(from_root); path.size() > 1;) {
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
    // Most sources' errors begin with where they are: said once.
    const std::string where = sources_[source]->where();
    std::string why = e.what();
    if (why.starts_with(where))
        why.erase(0, std::min(why.size(), why.find_first_not_of(" :", where.size())));
    std::fprintf(stderr, "selfconnect: cannot read container names from %s (%s); records keep the container id "
                         "alone\n",
                 where.c_str(), why.c_str());
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
    if (!cache_.count(c.id))
        make_room();
    Entry& e = cache_[c.id];
    // Docker's containers are containerd's too (namespace moby), where
    // their spec names them by id alone: the earlier source says.
    if (e.names && e.from < source)
        return;
    if (e.cgroup_path && c.cgroup_path) {
        const auto at = at_path_.find(*e.cgroup_path);
        if (at != at_path_.end() && at->second == c.id)
            at_path_.erase(at);
    }
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

void ContainerNamer::make_room()
{
    if (cache_.size() < kCacheLimit)
        return;
    std::erase_if(cache_, [&](const auto& e) { return !e.second.names && !e.second.pending; });
    if (cache_.size() < kCacheLimit)
        return;
    std::vector<std::pair<Clock::time_point, std::string>> by_age;
    for (const auto& [id, e] : cache_)
        if (!e.pending)
            by_age.emplace_back(e.looked_at, id);
    const size_t drop = std::min(by_age.size(), kCacheLimit / 8);
    std::nth_element(by_age.begin(), by_age.begin() + static_cast<long>(drop), by_age.end());
    for (size_t i = 0; i < drop; ++i)
        erase_entry(by_age[i].second);
}

void ContainerNamer::erase_entry(const std::string& id)
{
    const auto it = cache_.find(id);
    if (it == cache_.end())
        return;
    const std::optional<std::string> path = std::move(it->second.cgroup_path);
    cache_.erase(it);
    if (!path)
        return;
    const auto at = at_path_.find(*path);
    if (at == at_path_.end() || at->second != id)
        return;
    at_path_.erase(at);
    // Another container said it was put there too (a path given twice by
    // hand): it keeps the path.
    for (const auto& [other, e] : cache_)
        if (e.cgroup_path == path) {
            at_path_[*path] = other;
            break;
        }
}

void ContainerNamer::forget(size_t source, const std::string& id)
{
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = cache_.find(id);
    if (it == cache_.end() || it->second.pending || (it->second.names && it->second.from != source))
        return;
    erase_entry(id);
}

void ContainerNamer::forget_all_but(size_t source, const std::set<std::string>& running)
{
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> gone;
    for (const auto& [id, e] : cache_)
        if (e.names && e.from == source && !e.pending && !running.count(id))
            gone.push_back(id);
    for (const auto& id : gone)
        erase_entry(id);
}

// Follows `source` (when a follower is given) and then reads what it runs:
// in that order, a container made in between is told of by both.
void ContainerNamer::catch_up(size_t source, Follower* follower)
{
    try {
        if (follower) {
            follower->events = sources_[source]->follow();
            follower->followed_at = Clock::now();
        }
        std::set<std::string> running;
        for (auto& c : sources_[source]->list()) {
            running.insert(c.id);
            learn(source, std::move(c));
        }
        // Those it no longer runs went while it was not followed.
        forget_all_but(source, running);
    } catch (const RuntimeUnreachable& e) {
        say_unreachable(source, e);
        if (follower) {
            follower->events.reset();
            pause(*follower);
        }
    }
}

void ContainerNamer::pause(Follower& follower)
{
    follower.retry_at = Clock::now() + follower.pause;
    follower.pause = std::min<std::chrono::seconds>(follower.pause * 2, kLongestPause);
}

bool ContainerNamer::stopping()
{
    std::lock_guard<std::mutex> lock(mutex_);
    return stop_;
}

void ContainerNamer::read_changes(size_t source, Follower& follower)
{
    std::vector<RuntimeChange> changes;
    try {
        changes = follower.events->read();
    } catch (const RuntimeUnreachable& e) {
        // It restarted, or missed changes: followed and read again after a
        // pause that grows while streams keep ending soon, and said if it
        // was no plain end.
        if (!dynamic_cast<const RuntimeStreamEnded*>(&e))
            say_unreachable(source, e);
        if (Clock::now() - follower.followed_at > kLongestPause * 2)
            follower.pause = std::chrono::seconds(1);
        follower.events.reset();
        pause(follower);
        return;
    }
    for (auto& change : changes) {
        if (stopping())
            return;
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
    // Every set of this thread's, the bounding set and no_new_privs too (each
    // is per thread): it parses what runtimes say, and needs nothing.
    const auto running_read = [&] {
        std::lock_guard<std::mutex> lock(mutex_);
        running_read_ = true;
        answered_.notify_all();
    };
    if (auto err = drop_capabilities_except({})) {
        std::fprintf(stderr, "selfconnect: %s; container names are not read\n", err->c_str());
        running_read();
        return;
    }
    std::vector<Follower> followers(changes == Changes::Followed ? sources_.size() : 0);
    for (size_t i = 0; i < sources_.size() && !stopping(); ++i)
        catch_up(i, followers.empty() ? nullptr : &followers[i]);
    running_read();
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
        for (size_t k = 0; k < of.size() && !stopping(); ++k)
            if (fds[k + 1].revents)
                read_changes(of[k], followers[of[k]]);
        for (size_t i = 0; i < followers.size() && !stopping(); ++i)
            if (!followers[i].events && Clock::now() >= followers[i].retry_at)
                catch_up(i, &followers[i]);
    }
}

}  // namespace selfconnect
