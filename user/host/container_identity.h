// Which container, and which Kubernetes pod, a cgroup path belongs to. The
// path forms are the runtimes' own (cgroupfs and systemd drivers):
//   Docker         /docker/ID                 /system.slice/docker-ID.scope
//   containerd     /kubepods/QOS/podUID/ID    .../kubepods-QOS-podUID.slice/cri-containerd-ID.scope
//   CRI-O          .../podUID/crio-ID         .../kubepods-QOS-podUID.slice/crio-ID.scope
//   podman         /libpod_parent/libpod-ID   /machine.slice/libpod-ID.scope (rootless: under user@UID.service)
// ID is 64 hex digits; a systemd slice writes the pod UID with '_' for '-'.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace selfconnect {

struct ContainerIdentity {
    std::optional<std::string> container_id;  // 64 hex digits
    std::optional<std::string> pod_uid;       // 8-4-4-4-12
};

// Is `s` a container id as the runtimes number them: 64 hex digits?
bool is_hex_id(std::string_view s);

// The deepest container in the path (the inner one when nested; a
// container's own sub-cgroups, like init.scope under systemd, count as it).
ContainerIdentity container_identity_of(std::string_view cgroup_path);

}  // namespace selfconnect
