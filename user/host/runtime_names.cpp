#include "host/runtime_names.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "host/container_identity.h"

namespace selfconnect {

namespace {

std::optional<std::string> label(const nlohmann::json& labels, const char* key)
{
    if (!labels.is_object() || !labels.contains(key) || !labels[key].is_string())
        return std::nullopt;
    return labels[key].get<std::string>();
}

// A Docker container's names: its own ("/web"), or the kubelet's labels.
ContainerNames docker_names(std::string name, const nlohmann::json& labels)
{
    ContainerNames n;
    n.container_name = std::move(name);
    if (!n.container_name.empty() && n.container_name[0] == '/')
        n.container_name.erase(0, 1);
    if (auto kube_name = label(labels, "io.kubernetes.container.name"))
        n.container_name = *kube_name;
    n.pod_name = label(labels, "io.kubernetes.pod.name");
    n.pod_namespace = label(labels, "io.kubernetes.pod.namespace");
    return n;
}

// An OCI spec's linux.cgroupsPath as a path under the cgroup root: as it
// is in cgroupfs form ("/NAMESPACE/ID"); systemd's "SLICE:PREFIX:NAME"
// is where runc puts it, SLICE's ancestors first
// ("/a.slice/a-b.slice/PREFIX-NAME.scope"). Nothing when it gives none.
// (A cgroupfs path not starting with '/' is relative to runc's own
// cgroup, unknown here: nothing either.)
std::optional<std::string> cgroup_path_in_spec(const nlohmann::json& spec)
{
    if (!spec.contains("linux") || !spec["linux"].is_object() || !spec["linux"].contains("cgroupsPath") ||
        !spec["linux"]["cgroupsPath"].is_string())
        return std::nullopt;
    const std::string path = spec["linux"]["cgroupsPath"].get<std::string>();
    if (path.empty())
        return std::nullopt;
    if (path[0] == '/')
        return path;
    const auto first = path.find(':');
    const auto second = first == std::string::npos ? std::string::npos : path.find(':', first + 1);
    if (second == std::string::npos)
        return std::nullopt;
    // As runc names them: no slice is system.slice; a NAME that is a slice
    // is the unit itself, else PREFIX-NAME.scope.
    const std::string slice = first == 0 ? "system.slice" : path.substr(0, first);
    const std::string prefix = path.substr(first + 1, second - first - 1);
    const std::string name = path.substr(second + 1);
    std::string out;
    if (slice != "-.slice" && slice.size() > 6 && slice.ends_with(".slice")) {
        const std::string stem = slice.substr(0, slice.size() - 6);
        for (size_t dash = stem.find('-'); dash != std::string::npos; dash = stem.find('-', dash + 1))
            out += "/" + stem.substr(0, dash) + ".slice";
        out += "/" + slice;
    }
    return out + "/" + (name.ends_with(".slice") ? name : prefix + "-" + name + ".scope");
}

// The names in an OCI spec's annotations, with `id` as the name where the
// CRI plugin gave none.
std::optional<ContainerNames> names_in_spec(const nlohmann::json& j, const std::string& id)
{
    if (!j.is_object())
        return std::nullopt;
    const nlohmann::json annotations = j.contains("annotations") ? j["annotations"] : nlohmann::json();
    ContainerNames n;
    auto name = label(annotations, "io.kubernetes.cri.container-name");
    // No CRI name: `ctr run` gave the container its id, a name people chose;
    // a 64-hex id (Docker's containers, in containerd's moby namespace)
    // names nothing more than the record's container_id already does.
    if (!name && !is_hex_id(id))
        name = id;
    if (!name)
        return std::nullopt;
    n.container_name = *name;
    n.pod_name = label(annotations, "io.kubernetes.cri.sandbox-name");
    n.pod_namespace = label(annotations, "io.kubernetes.cri.sandbox-namespace");
    return n;
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
    const nlohmann::json labels = j.contains("Config") && j["Config"].is_object() && j["Config"].contains("Labels")
                                      ? j["Config"]["Labels"]
                                      : nlohmann::json();
    return docker_names(j["Name"].get<std::string>(), labels);
}

std::vector<KnownContainer> containers_from_docker_list(const std::string& body)
{
    std::vector<KnownContainer> known;
    const auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_array())
        return known;
    for (const auto& c : j) {
        if (!c.is_object() || !c.contains("Id") || !c["Id"].is_string() || !c.contains("Names") ||
            !c["Names"].is_array() || c["Names"].empty() || !c["Names"][0].is_string())
            continue;
        known.push_back(KnownContainer{c["Id"].get<std::string>(),
                                       docker_names(c["Names"][0].get<std::string>(),
                                                    c.contains("Labels") ? c["Labels"] : nlohmann::json()),
                                       std::nullopt});
    }
    return known;
}

std::optional<RuntimeChange> change_from_docker_event(const std::string& line)
{
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || j.value("Type", "") != "container" || !j.contains("Actor") || !j["Actor"].is_object())
        return std::nullopt;
    const nlohmann::json& actor = j["Actor"];
    if (!actor.contains("ID") || !actor["ID"].is_string())
        return std::nullopt;
    const std::string action = j.contains("Action") && j["Action"].is_string() ? j["Action"].get<std::string>() : "";
    // create comes before the container's process runs; rename changes
    // its name. (podman's compatible service says remove for destroy.)
    if (action == "create" || action == "rename")
        return RuntimeChange{RuntimeChange::Kind::Appeared, actor["ID"].get<std::string>(), std::nullopt};
    if (action == "destroy" || action == "remove")
        return RuntimeChange{RuntimeChange::Kind::Gone, actor["ID"].get<std::string>(), std::nullopt};
    return std::nullopt;
}

std::optional<ContainerNames> names_from_oci_spec(const std::string& config_json, const std::string& id)
{
    return names_in_spec(nlohmann::json::parse(config_json, nullptr, false), id);
}

std::optional<KnownContainer> container_from_oci_spec(const std::string& config_json, const std::string& id)
{
    const auto spec = nlohmann::json::parse(config_json, nullptr, false);
    auto names = names_in_spec(spec, id);
    if (!names)
        return std::nullopt;
    return KnownContainer{id, std::move(*names), cgroup_path_in_spec(spec)};
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
