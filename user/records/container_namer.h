// Container and pod names for records, from the runtimes' own answers
// (host/runtime_names), kept ready before they are needed: at its start the
// namer reads every container the runtimes run, then (in watch) follows
// their changes (Docker's and podman's event stream, containerd's state
// folder), so that a container's first record carries its names. A record
// never waits: one whose container is still unknown keeps its id alone and
// queues a lookup (at most 64 at a time). A runtime that cannot be asked is
// said once, on stderr, and followed again after a pause.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "host/runtime_names.h"
#include "host/unique_fd.h"

namespace selfconnect {

class ContainerNamer {
public:
    explicit ContainerNamer(std::vector<std::unique_ptr<NameSource>> sources);
    ~ContainerNamer();
    ContainerNamer(const ContainerNamer&) = delete;
    ContainerNamer& operator=(const ContainerNamer&) = delete;

    enum class Changes { Followed, Ignored };
    // Starts the thread, which first drops its own capabilities (it needs
    // none, and may start before the watcher drops its): it reads the
    // runtimes' containers, then answers lookups and, with
    // Changes::Followed, follows the runtimes' changes.
    void start(Changes changes = Changes::Ignored);
    // Waits until the containers running at the start are read, at most
    // `bound`: the start scan's records carry their names too.
    void wait_for_running(std::chrono::milliseconds bound);
    // The names of container `id` if known now; otherwise nothing, and a
    // lookup is queued. With `wait` (a one-shot audit), waits up to that
    // long for the answer instead.
    std::optional<ContainerNames> names_of(const std::string& id,
                                           std::chrono::milliseconds wait = std::chrono::milliseconds(0));
    // The container whose cgroup is `cgroup_path` or one of its ancestors,
    // among those whose runtime said where it put them: how a container
    // `ctr run` named rather than numbered is known.
    std::optional<KnownContainer> container_at(const std::string& cgroup_path);
    bool has_sources() const { return !sources_.empty(); }

private:
    struct Entry {
        std::optional<ContainerNames> names;  // nothing: no runtime knows it
        std::chrono::steady_clock::time_point looked_at;
        bool pending = false;
        size_t from = SIZE_MAX;  // the source that told: an earlier one outranks a later
        std::optional<std::string> cgroup_path;
    };
    // A source's change stream; none while it cannot be followed.
    struct Follower {
        std::unique_ptr<RuntimeEvents> events;
        std::chrono::steady_clock::time_point retry_at;
        std::chrono::seconds pause{1};
        std::chrono::steady_clock::time_point followed_at;
    };
    void run(Changes changes);
    void catch_up(size_t source, Follower* follower);
    void read_changes(size_t source, Follower& follower);
    void learn(size_t source, KnownContainer c);
    void forget(size_t source, const std::string& id);
    void forget_all_but(size_t source, const std::set<std::string>& running);
    void make_room();                         // under mutex_
    void erase_entry(const std::string& id);  // under mutex_
    void pause(Follower& follower);
    bool stopping();
    std::optional<ContainerNames> ask_sources(const std::string& id, size_t& from);
    void say_unreachable(size_t source, const RuntimeUnreachable& e);
    void wake();

    std::vector<std::unique_ptr<NameSource>> sources_;
    std::vector<bool> said_unreachable_;
    UniqueFd wake_fd_;  // the thread: work, or stop
    std::mutex mutex_;
    std::condition_variable answered_;  // waiters: an answer came
    std::deque<std::string> queue_;
    std::unordered_map<std::string, Entry> cache_;
    std::map<std::string, std::string> at_path_;  // cgroup path -> id
    bool stop_ = false;
    bool running_read_ = false;  // the containers running at the start
    std::thread thread_;
};

}  // namespace selfconnect
