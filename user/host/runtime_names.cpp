#include "host/runtime_names.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>


namespace selfconnect {

namespace {

std::optional<std::string> label(const nlohmann::json& labels, const char* key)
{
    if (!labels.is_object() || !labels.contains(key) || !labels[key].is_string())
        return std::nullopt;
    return labels[key].get<std::string>();
}

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
