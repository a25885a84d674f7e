#include <gtest/gtest.h>

#include <cerrno>

#include "kernel/kernel_features.h"

using namespace selfconnect;

TEST(BpfProbe, ARefusalUnderASeccompFilterNamesTheFilterNotTheKernel)
{
    const std::string s = explain_ring_buffer_probe(EPERM, 2);
    EXPECT_NE(s.find("seccomp"), std::string::npos) << s;
    EXPECT_NE(s.find("deploy/seccomp/selfconnect.json"), std::string::npos) << s;
    EXPECT_EQ(s.find("kernel has no"), std::string::npos) << s;
}

TEST(BpfProbe, ARefusalWithoutAFilterPointsAtTheOtherGatekeepers)
{
    const std::string s = explain_ring_buffer_probe(EPERM, 0);
    EXPECT_EQ(s.find("seccomp filter"), std::string::npos) << s;
    EXPECT_NE(s.find("security module"), std::string::npos) << s;
    EXPECT_EQ(s.find("Linux 5.8"), std::string::npos) << s;
}

TEST(BpfProbe, AnUnknownMapTypeMeansTheKernelIsTooOld)
{
    EXPECT_NE(explain_ring_buffer_probe(EINVAL, 0).find("needs Linux 5.8"), std::string::npos);
    EXPECT_EQ(explain_ring_buffer_probe(0, 2), "");
}

TEST(BpfAfterTheDrop, KernelsBefore519NeedCapBpfForEveryBpfCommand)
{
    EXPECT_TRUE(bpf_commands_need_capability("5.10.0-28-amd64"));  // Debian 11
    EXPECT_TRUE(bpf_commands_need_capability("5.15.0-91-generic"));  // Ubuntu 22.04
    EXPECT_TRUE(bpf_commands_need_capability("5.14.0-362.el9.x86_64"));  // RHEL 9
    EXPECT_TRUE(bpf_commands_need_capability("5.18.19"));
    EXPECT_FALSE(bpf_commands_need_capability("5.19.0"));
    EXPECT_FALSE(bpf_commands_need_capability("6.1.0-18-amd64"));
    EXPECT_FALSE(bpf_commands_need_capability("6.12.9+bpo-amd64"));
    EXPECT_TRUE(bpf_commands_need_capability("garbage")) << "unknown: keep what reading needs";
}

// The fexit probe loads a tracing program with no target: a kernel that
// would take fexit refuses it for that (EINVAL, naming btf_id); one that
// refuses fexit outright says no first, with another errno and no word of
// a target.
TEST(TrampolineProbe, OnlyTheRefusalForTheMissingTargetMeansYes)
{
    EXPECT_TRUE(trampoline_probe_says_yes(EINVAL, "Tracing programs must provide btf_id\n"));
    EXPECT_FALSE(trampoline_probe_says_yes(EPERM, ""));
    EXPECT_FALSE(trampoline_probe_says_yes(EINVAL, "unknown attach type\n"));
    EXPECT_FALSE(trampoline_probe_says_yes(ENOTSUP, "Tracing programs must provide btf_id\n"));
    EXPECT_FALSE(trampoline_probe_says_yes(0, ""));
}
