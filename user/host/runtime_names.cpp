#include "host/runtime_names.h"

#include <dirent.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "host/unix_http.h"

namespace selfconnect {

namespace {

constexpr size_t kMaxAnswer = 1 << 20;  // a container's inspect is a few KiB

std::optional<std::string> label(const nlohmann::json& labels, const char* key)
{
    if (!labels.is_object() || !labels.contains(key) || !labels[key].is_string())
        return std::nullopt;
    return labels[key].get<std::string>();
}

class DockerApiSource final : public NameSource {
public:
    DockerApiSource(std::string path, std::chrono::milliseconds timeout) : path_(std::move(path)), timeout_(timeout) {}

    std::optional<ContainerNames> names_of(const std::string& id) override
    {
        const std::string answer = get("/containers/" + id + "/json");
        const auto head_end = answer.find("\r\n\r\n");
        if (answer.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos)
            throw RuntimeUnreachable(where() + " gave no HTTP answer");
        const std::string status = answer.substr(9, 3);
        if (status == "404")
            return std::nullopt;  // not one of this runtime's containers
        if (status != "200")
            throw RuntimeUnreachable(where() + " answered HTTP " + status);
        return names_from_docker_json(answer.substr(head_end + 4));
    }

    std::string where() const override { return "the Docker API at " + path_; }

private:
    std::string get(const std::string& target)
    {
        try {
            return unix_http_get(path_, target, timeout_, kMaxAnswer);
        } catch (const UnixHttpFailure& e) {
            throw RuntimeUnreachable(where() + e.what());
        }
    }

    std::string path_;
    std::chrono::milliseconds timeout_;
};

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

bool exists(const std::string& path)
{
    struct stat st {};
    return stat(path.c_str(), &st) == 0;
}

}  // namespace

std::optional<ContainerNames> names_from_docker_json(const std::string& body)
{
    const auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("Name") || !j["Name"].is_string())
        return std::nullopt;
    ContainerNames n;
    n.container_name = j["Name"].get<std::string>();
    if (!n.container_name.empty() && n.container_name[0] == '/')
        n.container_name.erase(0, 1);
    const nlohmann::json labels = j.contains("Config") && j["Config"].is_object() && j["Config"].contains("Labels")
                                      ? j["Config"]["Labels"]
                                      : nlohmann::json();
    if (auto name = label(labels, "io.kubernetes.container.name"))
        n.container_name = *name;
    n.pod_name = label(labels, "io.kubernetes.pod.name");
    n.pod_namespace = label(labels, "io.kubernetes.pod.namespace");
    return n;
}

std::optional<ContainerNames> names_from_oci_spec(const std::string& config_json, const std::string& id)
{
    const auto j = nlohmann::json::parse(config_json, nullptr, false);
    if (!j.is_object())
        return std::nullopt;
    const nlohmann::json annotations = j.contains("annotations") ? j["annotations"] : nlohmann::json();
    ContainerNames n;
    n.container_name = label(annotations, "io.kubernetes.cri.container-name").value_or(id);
    n.pod_name = label(annotations, "io.kubernetes.cri.sandbox-name");
    n.pod_namespace = label(annotations, "io.kubernetes.cri.sandbox-namespace");
    return n;
}

std::unique_ptr<NameSource> docker_api_source(std::string socket_path, std::chrono::milliseconds timeout)
{
    return std::make_unique<DockerApiSource>(std::move(socket_path), timeout);
}

std::unique_ptr<NameSource> containerd_state_source(std::string state_dir)
{
    return std::make_unique<ContainerdStateSource>(std::move(state_dir));
}

std::vector<std::unique_ptr<NameSource>> default_name_sources()
{
    std::vector<std::unique_ptr<NameSource>> sources;
    for (const char* socket : {"/run/docker.sock", "/run/podman/podman.sock"})
        if (exists(socket))
            sources.push_back(docker_api_source(socket));
    for (const char* state : {"/run/containerd", "/run/k3s/containerd"})
        if (exists(std::string(state) + "/io.containerd.runtime.v2.task"))
            sources.push_back(containerd_state_source(state));
    return sources;
}

}  // namespace selfconnect
