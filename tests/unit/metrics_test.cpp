#include <gtest/gtest.h>

#include "metrics.h"

using namespace selfconnect;

TEST(Metrics, EveryFamilyHasHelpTypeAndSamples)
{
    Metrics m;
    m.self_connects_ipv4 = 3;
    m.lost_kernel_closes = 7;
    m.attach_mode = "tracepoint";
    const std::string text = render_prometheus(m);
    EXPECT_NE(text.find("# TYPE selfconnect_self_connects_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("selfconnect_self_connects_total{family=\"ipv4\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("selfconnect_events_lost_total{where=\"kernel\",kind=\"self_connect_closed\"} 7\n"),
              std::string::npos);
    EXPECT_NE(text.find("selfconnect_attach_mode{mode=\"tracepoint\"} 1\n"), std::string::npos);
    EXPECT_EQ(text.back(), '\n');
}

TEST(Metrics, ListenAddressesTakeTheUsualForms)
{
    auto a = parse_listen_address("127.0.0.1:9464");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 9464);
    EXPECT_EQ(parse_listen_address("[::1]:80")->host, "::1");
    EXPECT_EQ(parse_listen_address(":9464")->host, "0.0.0.0");
    EXPECT_FALSE(parse_listen_address("9464"));
    EXPECT_FALSE(parse_listen_address("::1:9464"));
    EXPECT_FALSE(parse_listen_address("127.0.0.1:0"));
    EXPECT_FALSE(parse_listen_address("127.0.0.1:65536"));
    EXPECT_FALSE(parse_listen_address("127.0.0.1:http"));
}
