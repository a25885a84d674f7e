// Names from a containerd state folder: the OCI spec of each running
// container's bundle, whose annotations containerd's CRI plugin fills.
#include "host/runtime_names.h"

#include <dirent.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace selfconnect {

namespace {

class ContainerdStateSource final : public NameSource {
public:
    explicit ContainerdStateSource(std::string dir) : tasks_(std::move(dir) + "/io.containerd.runtime.v2.task") {}

    // A running container's bundle is TASKS/NAMESPACE/ID/config.json.
    std::optional<ContainerNames> names_of(const std::string& id) override
    {
        std::unique_ptr<DIR, int (*)(DIR*)> namespaces(opendir(tasks_.c_str()), closedir);
        if (!namespaces)
            throw RuntimeUnreachable(where() + ": " + strerror(errno));
        while (const dirent* ns = readdir(namespaces.get())) {
            if (ns->d_name[0] == '.')
                continue;
            std::ifstream in(tasks_ + "/" + ns->d_name + "/" + id + "/config.json");
            if (!in)
                continue;
            std::ostringstream spec;
            spec << in.rdbuf();
            return names_from_oci_spec(spec.str(), id);
        }
        return std::nullopt;
    }

    std::string where() const override { return "containerd's state at " + tasks_; }

private:
    std::string tasks_;
};

}  // namespace

std::unique_ptr<NameSource> containerd_state_source(std::string state_dir)
{
    return std::make_unique<ContainerdStateSource>(std::move(state_dir));
}

}  // namespace selfconnect
