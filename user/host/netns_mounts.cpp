#include "host/netns_mounts.h"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>


namespace selfconnect {

namespace {

constexpr unsigned long kNsfsMagic = 0x6e736673;
// A name whose bind mount has not come within this is not a namespace.
constexpr auto kMountPatience = std::chrono::seconds(2);
const char* const kFolders[] = {"/run/netns", "/run/docker/netns"};

}  // namespace

bool is_netns_path(const std::string& path)
{
    struct statfs fs {};
    return statfs(path.c_str(), &fs) == 0 && static_cast<unsigned long>(fs.f_type) == kNsfsMagic;
}

NetnsMounts::NetnsMounts() : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC))
{
    if (!fd_)
        return;
    for (const char* dir : kFolders)
        if (access(dir, F_OK) == 0)
            watch(dir);
    // /run/netns made later (by the first `ip netns add`).
    if (access(kFolders[0], F_OK) != 0)
        run_watch_ = inotify_add_watch(fd_.get(), "/run", IN_CREATE | IN_ONLYDIR);
}

void NetnsMounts::watch(const std::string& dir)
{
    const int wd = inotify_add_watch(fd_.get(), dir.c_str(), IN_CREATE | IN_MOVED_TO);
    if (wd >= 0)
        folders_[wd] = dir;
}

void NetnsMounts::read_events()
{
    alignas(inotify_event) char buf[4096];
    for (;;) {
        const ssize_t n = read(fd_.get(), buf, sizeof(buf));
        if (n <= 0)
            return;
        for (ssize_t at = 0; at < n;) {
            const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
            at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
            if (!e->len)
                continue;
            const std::string name = e->name;
            if (e->wd == run_watch_) {
                if (name == "netns")
                    watch("/run/netns");
                continue;
            }
            auto folder = folders_.find(e->wd);
            if (folder != folders_.end())
                waiting_.emplace(folder->second + "/" + name, std::chrono::steady_clock::now());
        }
    }
}

std::vector<std::string> NetnsMounts::take_new()
{
    if (!fd_)
        return {};
    read_events();
    std::vector<std::string> ready;
    const auto now = std::chrono::steady_clock::now();
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (is_netns_path(it->first)) {
            ready.push_back(it->first);
            it = waiting_.erase(it);
        } else if (now - it->second > kMountPatience) {
            it = waiting_.erase(it);  // not a namespace after all
        } else {
            ++it;
        }
    }
    return ready;
}

}  // namespace selfconnect
