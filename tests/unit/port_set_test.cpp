#include <gtest/gtest.h>

#include "host/port_set.h"

using namespace selfconnect;

TEST(ReservedPortLists, ParseAndPrintInTheKernelsOwnSyntax)
{
    auto ports = parse_port_list("30100,30500-30510\n");
    ASSERT_TRUE(ports);
    EXPECT_TRUE(ports->test(30100));
    EXPECT_TRUE(ports->test(30505));
    EXPECT_FALSE(ports->test(30511));
    ports->set(30200);
    ports->set(30101);
    EXPECT_EQ(format_port_list(*ports), "30100-30101,30200,30500-30510");
    EXPECT_EQ(format_port_list(*parse_port_list("")), "");
}

TEST(ReservedPortLists, GarbageIsRefused)
{
    EXPECT_FALSE(parse_port_list("80-70"));
    EXPECT_FALSE(parse_port_list("70000"));
    EXPECT_FALSE(parse_port_list("http"));
}
