#include <gtest/gtest.h>

#include "kernel/kernel_features.h"

using namespace selfconnect;

namespace {
const char* kFormat618 =
    "\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;\n"
    "\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;\n"
    "\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;\n"
    "\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;\n"
    "\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;\n"
    "\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;\n"
    "\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;\n"
    "\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;\n"
    "\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;\n";
}

TEST(TracepointLayout, TheKernelsFormatMatchesWhatTheProgramReads)
{
    EXPECT_FALSE(check_tracepoint_layout(kFormat618));
}

TEST(TracepointLayout, AMovedFieldIsRefusedByName)
{
    std::string moved = kFormat618;
    moved.replace(moved.find("offset:36"), 9, "offset:40");
    auto err = check_tracepoint_layout(moved);
    ASSERT_TRUE(err);
    EXPECT_NE(err->find("daddr[4]"), std::string::npos);
}

TEST(AttachModes, NamesRoundTrip)
{
    for (auto m : {AttachMode::Auto, AttachMode::TpBtf, AttachMode::Tracepoint})
        EXPECT_EQ(parse_attach_mode(attach_mode_name(m)), m);
    EXPECT_FALSE(parse_attach_mode("fentry"));
}
