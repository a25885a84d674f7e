// `watch` during an incident: removing a stuck self-connect as it happens,
// and telling a client that retried from one that is stuck.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "self_connect.h"
#include "watch_process.h"

using nlohmann::json;
using namespace selfconnect::testing;
using namespace std::chrono_literals;

namespace {

std::optional<json> next_record(WatchProcess& w, const std::string& type)
{
    while (auto line = w.next_line(5s)) {
        json j = json::parse(*line);
        if (j["type"] == type)
            return j;
    }
    return std::nullopt;
}

}  // namespace

TEST(WatchIncident, KillDestroysTheSelfConnectAndItsOwnersReceiveFails)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(50);
    WatchProcess watch({"watch", "--json", "--kill", "--port", std::to_string(port)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();

    int report[2];
    ASSERT_EQ(pipe(report), 0);
    const pid_t child = fork();
    if (child == 0) {
        close(report[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, "sc-stuck");
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        const int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sockaddr_in a{AF_INET, htons(port), {htonl(INADDR_LOOPBACK)}, {}};
        if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)))
            _exit(10);
        char c;
        const int err = recv(fd, &c, 1, 0) < 0 ? errno : 0;  // a stuck client, waiting on itself
        (void)!write(report[1], &err, sizeof(err));
        _exit(0);
    }
    close(report[1]);

    const auto rec = next_record(watch, "self_connect");
    ASSERT_TRUE(rec);
    EXPECT_EQ((*rec)["pid"], child);
    EXPECT_EQ((*rec)["killed"], true) << rec->dump();
    int err = 0;
    ASSERT_EQ(read(report[0], &err, sizeof(err)), static_cast<ssize_t>(sizeof(err)));
    EXPECT_EQ(err, ECONNABORTED);
    close(report[0]);
    wait_child(child);
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(), 0);
}

TEST(WatchIncident, AClosedSelfConnectSaysHowLongItLived)
{
    REQUIRE_ROOT();
    const uint16_t port = unique_port(51);
    WatchProcess watch({"watch", "--json", "--port", std::to_string(port)});
    ASSERT_TRUE(watch.wait_ready()) << watch.stderr_text();

    SelfConnectPlan plan{AF_INET, "127.0.0.1", port};
    plan.comm = "sc-lingers";
    plan.hold = true;  // keeps it open until SIGTERM
    const SelfConnectChild child = start_self_connects(plan);
    const auto opened = next_record(watch, "self_connect");
    ASSERT_TRUE(opened);
    std::this_thread::sleep_for(400ms);
    kill(child.pid, SIGTERM);
    wait_child(child.pid);

    const auto closed = next_record(watch, "self_connect_closed");
    ASSERT_TRUE(closed);
    EXPECT_EQ((*closed)["port"], port);
    EXPECT_EQ((*closed)["pid"], child.pid);
    const double lived = (*closed)["lifetime_seconds"].get<double>();
    EXPECT_GE(lived, 0.4);
    EXPECT_LT(lived, 30.0);
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait_exit(), 0);
}
