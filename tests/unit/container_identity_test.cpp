// Container and pod identity from cgroup paths, in the forms each runtime
// documents for its cgroupfs and systemd drivers.
#include <gtest/gtest.h>

#include <vector>

#include "host/container_identity.h"

using namespace selfconnect;

namespace {

const std::string kId = "3f9a1c0e5b7d2468ace13579bdf02468ace13579bdf02468ace13579bdf02468";
const std::string kPod = "7c1e2f4a-9b3d-4e5f-8a6b-0c1d2e3f4a5b";
const std::string kPodUnderscores = "7c1e2f4a_9b3d_4e5f_8a6b_0c1d2e3f4a5b";

void expect_container(const std::string& path, const std::optional<std::string>& pod = std::nullopt)
{
    const ContainerIdentity c = container_identity_of(path);
    EXPECT_EQ(c.container_id, kId) << path;
    EXPECT_EQ(c.pod_uid, pod) << path;
}

}  // namespace

TEST(ContainerIdentity, Docker)
{
    expect_container("/docker/" + kId);                          // cgroupfs driver
    expect_container("/system.slice/docker-" + kId + ".scope");  // systemd driver
}

TEST(ContainerIdentity, ContainerdUnderKubernetes)
{
    expect_container("/kubepods/burstable/pod" + kPod + "/" + kId, kPod);
    expect_container("/kubepods/pod" + kPod + "/" + kId, kPod);  // Guaranteed QoS
    expect_container("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kPodUnderscores +
                         ".slice/cri-containerd-" + kId + ".scope",
                     kPod);
    expect_container("/kubepods.slice/kubepods-pod" + kPodUnderscores + ".slice/cri-containerd-" + kId + ".scope",
                     kPod);
}

TEST(ContainerIdentity, CriO)
{
    expect_container("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kPodUnderscores +
                         ".slice/crio-" + kId + ".scope",
                     kPod);
    expect_container("/kubepods/besteffort/pod" + kPod + "/crio-" + kId, kPod);
}

TEST(ContainerIdentity, Podman)
{
    expect_container("/machine.slice/libpod-" + kId + ".scope");
    expect_container("/libpod_parent/libpod-" + kId);  // --cgroup-manager cgroupfs
    expect_container("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope");
    // systemd inside the container: its own sub-cgroups are still it.
    expect_container("/machine.slice/libpod-" + kId + ".scope/init.scope");
}

TEST(ContainerIdentity, NotAContainer)
{
    for (const std::string& path : std::vector<std::string>{"", "/", "/user.slice/user-1000.slice/session-3.scope", "/system.slice/ssh.service",
          "/machine.slice/libpod-conmon-" + kId + ".scope",  // podman's monitor, not the container
          "/docker/" + kId.substr(1),                          // 63 digits
          "/docker/" + std::string(64, 'g'), "/kubepods/burstable/pod" + kPod}) {
        const ContainerIdentity c = container_identity_of(path);
        EXPECT_FALSE(c.container_id) << path;
        EXPECT_FALSE(c.pod_uid) << path;
    }
}

TEST(ContainerIdentity, TheInnerContainerWhenNested)
{
    const std::string outer(64, 'a');
    EXPECT_EQ(container_identity_of("/docker/" + outer + "/docker/" + kId).container_id, kId);
}
