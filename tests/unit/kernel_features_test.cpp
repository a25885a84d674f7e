#include <gtest/gtest.h>
#include <linux/btf.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <vector>

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

TEST(BpfAfterTheDrop, ClassicTracepointsBefore61TakeOnlyPreallocatedMapsWithoutAWarning)
{
    EXPECT_TRUE(tracepoints_need_preallocated_maps("5.10.0-32-cloud-amd64"));  // Debian 11
    EXPECT_TRUE(tracepoints_need_preallocated_maps("6.0.19"));
    EXPECT_FALSE(tracepoints_need_preallocated_maps("6.1.0-50-amd64"));  // Debian 12
    EXPECT_FALSE(tracepoints_need_preallocated_maps("6.12.95+deb12-cloud-amd64"));
    EXPECT_TRUE(tracepoints_need_preallocated_maps("")) << "unknown: what is safe on any kernel";
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

// The kernel's BTF string table, read whole, to check the chunked lookup
// against: every name that lies across a 64 KiB boundary of the table (where
// a chunk ends) must be found, and a name made up must not.
namespace {
std::string kernel_btf_strings()
{
    std::ifstream btf("/sys/kernel/btf/vmlinux", std::ios::binary);
    btf_header hdr{};
    if (!btf.read(reinterpret_cast<char*>(&hdr), sizeof(hdr)))
        return "";
    std::string strings(hdr.str_len, '\0');
    btf.seekg(hdr.hdr_len + hdr.str_off);
    btf.read(strings.data(), static_cast<std::streamsize>(strings.size()));
    return strings;
}
}  // namespace

TEST(KernelBtfNames, OneReadFindsWhatTheTableHoldsAcrossEveryChunkAndNothingElse)
{
    const std::string strings = kernel_btf_strings();
    if (strings.empty())
        GTEST_SKIP() << "this kernel exposes no BTF";
    std::vector<std::string> held;
    for (size_t boundary = 64 * 1024; boundary < strings.size(); boundary += 64 * 1024) {
        const size_t begin = strings.rfind('\0', boundary - 1) + 1;
        const size_t end = strings.find('\0', boundary);
        if (end != std::string::npos && end > begin)
            held.push_back(strings.substr(begin, end - begin));
    }
    ASSERT_GT(held.size(), 10U) << "the table is smaller than expected";
    std::vector<std::string_view> names(held.begin(), held.end());
    names.push_back("selfconnect_no_kernel_has_this_name");
    names.push_back("task_struc");  // a prefix of a name, not a name
    const std::vector<bool> found = kernel_btf_has_names(names);
    ASSERT_EQ(found.size(), names.size());
    for (size_t i = 0; i < held.size(); ++i)
        EXPECT_TRUE(found[i]) << "not found: " << held[i];
    EXPECT_FALSE(found[held.size()]);
    EXPECT_FALSE(found[held.size() + 1]);
    // The names asked at start, answered from the one read, agree with a
    // read of their own.
    for (std::string_view name : {"btf_trace_inet_sock_set_state", "BPF_FUNC_sock_from_file", "bpf_iter__tcp",
                                  "BPF_FUNC_skc_to_tcp_sock"})
        EXPECT_EQ(kernel_btf_has_name(name), kernel_btf_has_names({name}).front()) << name;
    EXPECT_TRUE(kernel_btf_has_name("task_struct"));
}
