// What a container runtime calls a container: its name and, for a
// Kubernetes pod's container, the pod's name and namespace, read from the
// runtime that owns it. Docker and podman answer on their API socket
// (GET /containers/ID/json: the name and the labels a kubelet sets,
// io.kubernetes.pod.name and .namespace, io.kubernetes.container.name);
// containerd keeps each running container's OCI spec in its state folder,
// whose annotations its CRI plugin fills (io.kubernetes.cri.container-name,
// .sandbox-name, .sandbox-namespace). Every read is bounded in time.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace selfconnect {

struct ContainerNames {
    std::string container_name;
    std::optional<std::string> pod_name;
    std::optional<std::string> pod_namespace;
};

// A container a runtime runs, as its listing or its state says.
struct KnownContainer {
    std::string id;  // 64 hex digits, or the name `ctr run` was given
    ContainerNames names;
    // Where its runtime put it, when the runtime says (containerd's spec,
    // cgroupfs form): a container whose id is not 64 hex digits is found
    // by this path alone.
    std::optional<std::string> cgroup_path;
};

// A change in a runtime's containers.
struct RuntimeChange {
    enum class Kind { Appeared, Gone } kind;
    std::string id;
    // What the runtime said of an appeared one; nothing: ask names_of().
    std::optional<KnownContainer> known;
};

// A runtime's changes as they happen.
class RuntimeEvents {
public:
    virtual ~RuntimeEvents() = default;
    // Readable when changes wait.
    virtual int fd() const = 0;
    // The changes that wait, without blocking. Throws RuntimeUnreachable
    // when the runtime's stream ended (it restarted, or went away).
    virtual std::vector<RuntimeChange> read() = 0;
};

// One runtime's answer.
class NameSource {
public:
    virtual ~NameSource() = default;
    // The names of container `id` (64 hex digits), or nothing if this
    // runtime does not know it. Throws RuntimeUnreachable when the runtime
    // could not be asked (absent, refused, slow).
    virtual std::optional<ContainerNames> names_of(const std::string& id) = 0;
    // Every container it runs now. Throws RuntimeUnreachable.
    virtual std::vector<KnownContainer> list() = 0;
    // Its changes from now on. Throws RuntimeUnreachable.
    virtual std::unique_ptr<RuntimeEvents> follow() = 0;
    // "docker API at /run/docker.sock", for the one line said when it fails.
    virtual std::string where() const = 0;
};

struct RuntimeUnreachable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A change stream that ended as streams do (the runtime restarted, or
// changes came faster than they were read): followed and read again, and
// not said.
struct RuntimeStreamEnded : RuntimeUnreachable {
    using RuntimeUnreachable::RuntimeUnreachable;
};

// A Docker Engine API socket (Docker, podman's compatible service).
std::unique_ptr<NameSource> docker_api_source(std::string socket_path,
                                              std::chrono::milliseconds timeout = std::chrono::milliseconds(500));

// A containerd state folder (--state, /run/containerd by default).
std::unique_ptr<NameSource> containerd_state_source(std::string state_dir);

// The names in a Docker API answer (GET /containers/ID/json), or nothing if
// it is not one. Pure, for the tests.
std::optional<ContainerNames> names_from_docker_json(const std::string& body);

// The names in an OCI spec's annotations (config.json), with `id` as the
// name where the CRI plugin gave none and `id` is one a person chose (not
// 64 hex digits). Pure, for the tests.
std::optional<ContainerNames> names_from_oci_spec(const std::string& config_json, const std::string& id);

// The running containers in a Docker API listing (GET /containers/json).
// Pure, for the tests.
std::vector<KnownContainer> containers_from_docker_list(const std::string& body);

// The container an OCI spec describes, with its cgroup path where the
// spec gives one ("/NAMESPACE/ID" under ctr; runc's systemd form
// "SLICE:PREFIX:NAME" as the path runc makes of it). Pure.
std::optional<KnownContainer> container_from_oci_spec(const std::string& config_json, const std::string& id);

// The container a Docker event line (GET /events) says appeared (create,
// rename) or went (destroy; podman: remove); nothing for other lines. Pure.
std::optional<RuntimeChange> change_from_docker_event(const std::string& line);

// The sources on this host when none are named: the usual sockets and
// state folders, where they exist.
std::vector<std::unique_ptr<NameSource>> default_name_sources();

}  // namespace selfconnect
