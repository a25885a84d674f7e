// Names from a containerd state folder: the OCI spec of each running
// container's bundle (TASKS/NAMESPACE/ID/config.json), whose annotations
// containerd's CRI plugin fills. containerd writes a bundle when a task is
// created, before its process runs: inotify on the folder tells of it in
// time for the container's first record.
#include "host/runtime_names.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "host/unique_fd.h"

namespace selfconnect {

namespace {

constexpr size_t kMaxSpec = 1 << 20;  // a spec is a few KiB

using Dir = std::unique_ptr<DIR, int (*)(DIR*)>;

// containerd removes a bundle by renaming it to ".ID" first; "." and ".."
// are none either.
bool is_bundle_name(const std::string& name)
{
    return !name.empty() && name[0] != '.';
}

// The names of the entries of `path` that are folders (namespaces or
// bundles), or nothing if it cannot be read.
std::optional<std::vector<std::string>> folders_in(const std::string& path)
{
    Dir dir(opendir(path.c_str()), closedir);
    if (!dir)
        return std::nullopt;
    std::vector<std::string> names;
    while (const dirent* e = readdir(dir.get()))
        if (is_bundle_name(e->d_name) && (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN))
            names.emplace_back(e->d_name);
    return names;
}

// The spec of the bundle at `bundle`, or nothing while it is not written.
// Only a regular file is read (a FIFO there would block the reader for
// ever), and at most kMaxSpec bytes of it.
std::optional<std::string> spec_in(const std::string& bundle)
{
    const UniqueFd fd(open((bundle + "/config.json").c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!fd || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || static_cast<size_t>(st.st_size) > kMaxSpec)
        return std::nullopt;
    std::string spec;
    char buf[8192];
    for (;;) {
        const ssize_t n = read(fd.get(), buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return std::nullopt;
        if (n == 0)
            return spec;
        spec.append(buf, static_cast<size_t>(n));
        if (spec.size() > kMaxSpec)
            return std::nullopt;
    }
}

// Follows the bundles of every namespace of the state folder: a namespace
// folder that appears is watched, a bundle that appears is watched until
// its spec is written (it may be already: read at once too), and a bundle
// that goes is a container gone.
class BundleWatch final : public RuntimeEvents {
public:
    BundleWatch(std::string tasks, std::string where) : tasks_(std::move(tasks)), where_(std::move(where))
    {
        if (!fd_)
            fail("inotify");
        root_wd_ = inotify_add_watch(fd_.get(), tasks_.c_str(), IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
        if (root_wd_ < 0)
            fail("inotify_add_watch");
        for (const auto& ns : folders_in(tasks_).value_or(std::vector<std::string>{}))
            watch_namespace(ns, nullptr);
    }

    int fd() const override { return fd_.get(); }

    std::vector<RuntimeChange> read() override
    {
        std::vector<RuntimeChange> changes;
        alignas(inotify_event) char buf[16384];
        for (;;) {
            const ssize_t n = ::read(fd_.get(), buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                return changes;
            if (n <= 0)
                fail("inotify");
            for (ssize_t at = 0; at < n;) {
                const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
                at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
                handle(*e, changes);
            }
        }
    }

private:
    enum class Kind { Namespace, Bundle };
    struct Watched {
        Kind kind;
        std::string path;
        std::string id;  // a bundle's
    };

    [[noreturn]] void fail(const std::string& what)
    {
        throw RuntimeUnreachable(where_ + ": " + what + ": " + strerror(errno));
    }

    void handle(const inotify_event& e, std::vector<RuntimeChange>& changes)
    {
        if (e.mask & IN_Q_OVERFLOW)
            throw RuntimeStreamEnded(where_ + ": changes came faster than they were read");
        if (e.wd == root_wd_ && (e.mask & IN_IGNORED))
            throw RuntimeUnreachable(where_ + ": the folder went away");
        if (e.mask & IN_IGNORED) {
            watched_.erase(e.wd);
            return;
        }
        const std::string name = e.len ? e.name : "";
        if (e.wd == root_wd_) {  // a namespace appeared
            if ((e.mask & IN_ISDIR) && !name.empty())
                watch_namespace(name, &changes);
            return;
        }
        const auto w = watched_.find(e.wd);
        if (w == watched_.end())
            return;  // a bundle whose spec was read: its last events
        if (w->second.kind == Kind::Namespace) {
            if (!is_bundle_name(name))
                return;
            const std::string bundle = w->second.path + "/" + name;
            if ((e.mask & (IN_CREATE | IN_MOVED_TO)) && (e.mask & IN_ISDIR))
                watch_bundle(bundle, name, changes);
            else if ((e.mask & (IN_DELETE | IN_MOVED_FROM)) && (e.mask & IN_ISDIR))
                changes.push_back(RuntimeChange{RuntimeChange::Kind::Gone, name, std::nullopt});
            return;
        }
        if (name == "config.json") {
            const Watched bundle = w->second;
            learn(bundle.path, bundle.id, changes);
            unwatch(e.wd);  // written and closed: nothing more to wait for
        }
    }

    // A namespace's folder: its bundles from now on, and those already
    // there (made before the watch, or between its folder and the watch).
    void watch_namespace(const std::string& ns, std::vector<RuntimeChange>* changes)
    {
        const std::string path = tasks_ + "/" + ns;
        const int wd = inotify_add_watch(fd_.get(), path.c_str(),
                                         IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR);
        if (wd < 0)
            return;  // gone already, or not a folder
        watched_[wd] = Watched{Kind::Namespace, path, ""};
        if (!changes)
            return;  // at the start: the listing reads those there
        for (const auto& id : folders_in(path).value_or(std::vector<std::string>{}))
            watch_bundle(path + "/" + id, id, *changes);
    }

    void watch_bundle(const std::string& bundle, const std::string& id, std::vector<RuntimeChange>& changes)
    {
        const int wd = inotify_add_watch(fd_.get(), bundle.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR);
        if (wd >= 0)
            watched_[wd] = Watched{Kind::Bundle, bundle, id};
        if (learn(bundle, id, changes) && wd >= 0)
            unwatch(wd);
    }

    void unwatch(int wd)
    {
        inotify_rm_watch(fd_.get(), wd);
        watched_.erase(wd);
    }

    // True once its spec is read: the bundle's watch is done with, whether
    // the spec named it or not (Docker's, in containerd's moby namespace).
    bool learn(const std::string& bundle, const std::string& id, std::vector<RuntimeChange>& changes)
    {
        const auto spec = spec_in(bundle);
        if (!spec || !nlohmann::json::accept(*spec))
            return false;  // not written yet, or half: its close comes next
        if (auto known = container_from_oci_spec(*spec, id))
            changes.push_back(RuntimeChange{RuntimeChange::Kind::Appeared, id, std::move(known)});
        return true;
    }

    UniqueFd fd_{inotify_init1(IN_NONBLOCK | IN_CLOEXEC)};
    std::string tasks_;
    std::string where_;
    int root_wd_ = -1;
    std::map<int, Watched> watched_;
};

class ContainerdStateSource final : public NameSource {
public:
    explicit ContainerdStateSource(std::string dir) : tasks_(std::move(dir) + "/io.containerd.runtime.v2.task") {}

    std::optional<ContainerNames> names_of(const std::string& id) override
    {
        for (const auto& ns : namespaces())
            if (auto spec = spec_in(tasks_ + "/" + ns + "/" + id))
                return names_from_oci_spec(*spec, id);
        return std::nullopt;
    }

    std::vector<KnownContainer> list() override
    {
        std::vector<KnownContainer> known;
        for (const auto& ns : namespaces()) {
            for (const auto& id : folders_in(tasks_ + "/" + ns).value_or(std::vector<std::string>{})) {
                if (auto spec = spec_in(tasks_ + "/" + ns + "/" + id))
                    if (auto c = container_from_oci_spec(*spec, id))
                        known.push_back(std::move(*c));
            }
        }
        return known;
    }

    std::unique_ptr<RuntimeEvents> follow() override { return std::make_unique<BundleWatch>(tasks_, where()); }

    std::string where() const override { return "containerd's state at " + tasks_; }

private:
    std::vector<std::string> namespaces()
    {
        auto found = folders_in(tasks_);
        if (!found)
            throw RuntimeUnreachable(where() + ": " + strerror(errno));
        return *found;
    }

    std::string tasks_;
};

}  // namespace

std::unique_ptr<NameSource> containerd_state_source(std::string state_dir)
{
    return std::make_unique<ContainerdStateSource>(std::move(state_dir));
}

}  // namespace selfconnect
