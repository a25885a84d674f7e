#include "host/cgroup_paths.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace selfconnect {

std::string cgroup2_mount_point()
{
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);) {
        // "... mount_point options [optional fields] - fstype source ..."
        const auto sep = line.find(" - ");
        if (sep == std::string::npos || line.compare(sep + 3, 8, "cgroup2 ") != 0)
            continue;
        std::istringstream fields(line);
        std::string id, parent, dev, root, mount_point;
        fields >> id >> parent >> dev >> root >> mount_point;
        return mount_point;
    }
    return {};
}

std::string cgroup_path_of_pid(uint32_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("0::", 0) == 0)
            return line.substr(3);
    return {};
}

std::string CgroupPaths::path_of(uint64_t id)
{
    if (id == 0 || root_.empty())
        return {};
    auto it = paths_.find(id);
    // A miss may be a cgroup created since the last walk; walk again, but
    // not more than once a second, so a flood of events stays cheap.
    if (it == paths_.end() && std::chrono::steady_clock::now() - last_scan_ > std::chrono::seconds(1)) {
        rescan();
        it = paths_.find(id);
    }
    return it == paths_.end() ? std::string() : it->second;
}

void CgroupPaths::rescan()
{
    namespace fs = std::filesystem;
    last_scan_ = std::chrono::steady_clock::now();
    paths_.clear();
    struct stat st{};
    if (stat(root_.c_str(), &st) == 0)
        paths_[st.st_ino] = "/";
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root_, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
        if (!it->is_directory(ec) || it->is_symlink(ec)) {
            it.disable_recursion_pending();
            continue;
        }
        if (stat(it->path().c_str(), &st) == 0)
            paths_[st.st_ino] = "/" + fs::relative(it->path(), root_, ec).string();
    }
}

}  // namespace selfconnect
