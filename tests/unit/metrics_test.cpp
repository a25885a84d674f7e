#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "metrics/metrics.h"

using namespace selfconnect;

TEST(Metrics, EveryFamilyHasHelpTypeAndSamples)
{
    Metrics m;
    m.self_connects_ipv4 = 3;
    m.lost_kernel_by_kind[SC_EVENT_SELF_CONNECT_CLOSED] = 7;
    m.skipped_kernel_runs = 2;
    m.lost_unknown_kinds = 5;
    m.lost_open_count_closes = 4;
    m.attach_mode = "tracepoint";
    const std::string text = render_prometheus(m);
    EXPECT_NE(text.find("# TYPE selfconnect_self_connects_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("selfconnect_self_connects_total{family=\"ipv4\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("selfconnect_events_lost_total{where=\"kernel\",kind=\"self_connect_closed\"} 7\n"),
              std::string::npos);
    EXPECT_NE(text.find("selfconnect_events_lost_total{where=\"kernel_skipped\",kind=\"unknown\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("selfconnect_events_lost_total{where=\"unknown_kind\",kind=\"unknown\"} 5\n"),
              std::string::npos);
    EXPECT_NE(text.find("selfconnect_events_lost_total{where=\"open_count\",kind=\"self_connect_closed\"} 4\n"),
              std::string::npos);
    EXPECT_NE(text.find("selfconnect_events_lost_total{where=\"open_count\",kind=\"self_connect\"} 0\n"),
              std::string::npos);
    EXPECT_NE(text.find("selfconnect_attach_mode{mode=\"tracepoint\"} 1\n"), std::string::npos);
    EXPECT_EQ(text.back(), '\n');
}

TEST(Metrics, GaugesOfThePresentAndPreventionCountersHaveBoundedLabels)
{
    Metrics m;
    m.listeners_at_risk = 2;
    m.self_connects_open = 1;
    m.ports_reserved_retry_loop = 4;
    m.listeners_blocked = 3;
    const std::string text = render_prometheus(m);
    EXPECT_NE(text.find("# TYPE selfconnect_listeners_at_risk gauge\nselfconnect_listeners_at_risk 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("# TYPE selfconnect_self_connects_open gauge\nselfconnect_self_connects_open 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("selfconnect_ports_reserved_total{reason=\"retry_loop\"} 4\n"), std::string::npos);
    EXPECT_NE(text.find("selfconnect_listeners_blocked_total 3\n"), std::string::npos);
    EXPECT_EQ(text.find("netns="), std::string::npos) << "namespaces come and go: never a label";
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

TEST(MetricsHttp, AScrapeGetsTheMetricsAndAnythingElseAClearNo)
{
    Metrics m;
    m.attach_mode = "tp_btf";
    const std::string ok = http_response_for("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", m);
    EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
    const std::string body = ok.substr(ok.find("\r\n\r\n") + 4);
    EXPECT_EQ(body, render_prometheus(m));
    EXPECT_NE(ok.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos);
    EXPECT_EQ(http_response_for("GET /metrics?x=1 HTTP/1.0\r\n\r\n", m).rfind("HTTP/1.1 200", 0), 0u);
    const std::string head = http_response_for("HEAD /metrics HTTP/1.1\r\n\r\n", m);
    EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "");
    EXPECT_EQ(http_response_for("GET / HTTP/1.1\r\n\r\n", m).rfind("HTTP/1.1 404", 0), 0u);
    EXPECT_EQ(http_response_for("POST /metrics HTTP/1.1\r\n\r\n", m).rfind("HTTP/1.1 405", 0), 0u);
    EXPECT_EQ(http_response_for("garbage\r\n\r\n", m).rfind("HTTP/1.1 400", 0), 0u);
}

// The rules' unit tests feed series by hand: a metric renamed here would
// leave its alert silent for ever. Every name the rules use is served.
TEST(Metrics, EveryMetricTheAlertingRulesUseIsServed)
{
    std::ifstream in(SC_RULES_FILE);
    ASSERT_TRUE(in) << SC_RULES_FILE;
    std::stringstream rules;
    rules << in.rdbuf();
    const std::string text = rules.str();
    const std::string served = render_prometheus(Metrics{});
    const std::regex name("selfconnect_[a-z_]+");
    int used = 0;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator(); ++it) {
        const std::string n = it->str();
        ++used;
        // The risk map's families have no series while nothing is at risk: declared is served.
        EXPECT_TRUE(served.find("\n" + n + " ") != std::string::npos || served.find("\n" + n + "{") != std::string::npos ||
                    served.find("\n# TYPE " + n + " ") != std::string::npos)
            << n << " is used by the rules but not served";
    }
    EXPECT_GE(used, 5);
}

TEST(RiskMap, AHostileNameCannotBreakTheScrapeAndTheBoundIsCounted)
{
    Metrics m;
    RiskLabels hostile{{"netns", "1"}, {"comm", "a\"b\\c\nd\xff"}};
    m.risk_map.replace(RiskKind::OpenSelfConnect, {hostile}, 0);
    const std::string text = render_prometheus(m);
    // One line, valid UTF-8, Prometheus' escapes: the bytes as the text form shows them.
    EXPECT_NE(text.find("selfconnect_self_connect_open_info{netns=\"1\",comm=\"a\\\"b\\\\\\\\c\\\\nd\\\\xff\"} 1\n"),
              std::string::npos)
        << text;

    RiskMap bounded(2);
    bounded.replace(RiskKind::ListenerInRange, {hostile, hostile, hostile}, 4);
    std::string out;
    bounded.render(out);
    size_t shown = 0;
    for (size_t at = 0; (at = out.find("selfconnect_listener_in_range_info{", at)) != std::string::npos; ++at)
        ++shown;
    EXPECT_EQ(shown, 2u);
    EXPECT_NE(out.find("selfconnect_risk_series_left_out{map=\"listeners\"} 5\n"), std::string::npos) << out;
    EXPECT_NE(out.find("selfconnect_risk_series_left_out{map=\"retry_loops\"} 0\n"), std::string::npos) << out;
}
