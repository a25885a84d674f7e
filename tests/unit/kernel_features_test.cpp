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
