// The watcher's heart without root or BPF: decoded events go in, and the
// records, kills, reservations and metrics that come out are checked.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <cstring>
#include <optional>
#include <vector>

#include "records/event_decoding.h"
#include "records/event_kinds.h"
#include "records/record_json.h"
#include "records/record_text.h"
#include "records/record_sink.h"
#include "watch/event_dispatcher.h"

using namespace selfconnect;

namespace {

constexpr uint32_t kNetns = 4026532000u;
constexpr uint32_t kOtherNetns = 4026532999u;
constexpr uint32_t kPid = 4100001;  // above any pid this machine hands out

// Every record the dispatcher writes, in order.
class RecordingSink final : public RecordSink {
public:
    void write(const Record& r) override { records.push_back(r); }
    void write_lost(const LostEvents&) override {}
    std::vector<Record> of(RecordType t) const
    {
        std::vector<Record> out;
        for (const Record& r : records)
            if (r.type() == t)
                out.push_back(r);
        return out;
    }
    std::vector<Record> records;
};

// The host, as the dispatcher sees it: answers set by each test, calls kept.
// The kernel's fold table: nothing folded unless a test says so.
class FakeFolds final : public FoldTable {
public:
    std::optional<sc_fold> read(const sc_command_port& key) override
    {
        for (const auto& [k, f] : folds)
            if (std::memcmp(&k, &key, sizeof(key)) == 0)
                return f;
        return std::nullopt;
    }
    void forget(const sc_command_port&) override {}
    std::vector<std::pair<sc_command_port, sc_fold>> folds;
};

class FakeHost final : public WatchActions {
public:
    KillResult kill(const Record& r) override
    {
        killed.push_back(r);
        return kill_answer;
    }
    std::optional<Record> protect(uint32_t netns, uint16_t port, uint32_t, ReserveReason reason) override
    {
        protected_ports.push_back({netns, port, reason});
        if (!protect_answer)
            return std::nullopt;
        Record r;
        PortReservedFacts facts;
        facts.reason = reason;
        facts.error = protect_error;
        r.facts = facts;
        r.netns = netns;
        r.port = port;
        return r;
    }
    void find_holders(const Record& r) override { asked.push_back(r); }
    ListenerFix fix_for(const Record& r) override
    {
        return {"fix for " + std::to_string(r.port), "pod fix for " + std::to_string(r.port)};
    }
    void reserved_now(uint32_t netns, const PortSet&) override { told_reserved.push_back(netns); }
    FoldTable& fold_table() override { return folds; }
    std::optional<std::string> guard_namespace(uint32_t netns, uint32_t) override
    {
        guarded.push_back(netns);
        return guard_error;
    }

    FakeFolds folds;
    KillResult kill_answer{true, {}};
    bool protect_answer = true;
    std::optional<std::string> protect_error;
    std::vector<Record> asked;
    std::vector<Record> killed;
    std::vector<uint32_t> told_reserved;
    std::vector<uint32_t> guarded;
    std::optional<std::string> guard_error;
    struct Protected {
        uint32_t netns;
        uint16_t port;
        ReserveReason reason;
    };
    std::vector<Protected> protected_ports;
};

// An event as the kernel writes it, decoded as the ring reader does.
Record event(uint8_t kind, uint16_t port, uint64_t mono_ns = 1'000'000'000ULL, uint32_t netns = kNetns,
             const char* comm = "nc", uint16_t family = AF_INET)
{
    sc_event e{};
    e.kind = kind;
    e.owner = kind == SC_EVENT_LISTENER_CLOSED ? SC_OWNER_UNKNOWN : SC_OWNER_CONNECT;
    e.tgid = kPid;
    e.tid = kPid;
    e.uid = 1000;
    e.netns = netns;
    e.mono_ns = mono_ns;
    e.family = family;
    e.port = port;
    e.range_lo = 40000;
    e.range_hi = 41999;
    e.addr[0] = 127;
    e.addr[3] = 1;
    if (family == AF_INET6) {
        std::memset(e.addr, 0, sizeof(e.addr));
        e.addr[15] = 1;
    }
    std::strncpy(e.comm, comm, sizeof(e.comm) - 1);
    return *decode_event(e, std::chrono::system_clock::now());
}

class Dispatcher : public testing::Test {
protected:
    EventDispatcher& make()
    {
        dispatcher.emplace(options, sink, metrics, enricher, host);
        return *dispatcher;
    }

    WatchOptions options;
    RecordingSink sink;
    Metrics metrics;
    OwnerEnricher enricher{CgroupPaths("")};
    FakeHost host;
    std::optional<EventDispatcher> dispatcher;
};

TEST_F(Dispatcher, ASelfConnectIsWrittenCountedAndOpenUntilItsCloseGivesItsLifetime)
{
    EventDispatcher& d = make();
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500, 1'000'000'000ULL));
    d.handle(event(SC_EVENT_SELF_CONNECT, 40502, 1'000'000'000ULL, kNetns, "curl", AF_INET6));
    ASSERT_EQ(sink.of(RecordType::SelfConnect).size(), 2u);
    EXPECT_EQ(metrics.self_connects_ipv4, 1u);
    EXPECT_EQ(metrics.self_connects_ipv6, 1u);
    EXPECT_EQ(metrics.self_connects_open, 2u);
    EXPECT_EQ(d.detections(), 2u);
    EXPECT_TRUE(host.killed.empty());  // no --kill

    d.handle(event(SC_EVENT_SELF_CONNECT_CLOSED, 40500, 3'500'000'000ULL));
    const auto closed = sink.of(RecordType::SelfConnectClosed);
    ASSERT_EQ(closed.size(), 1u);
    ASSERT_TRUE(closed[0].as<SelfConnectClosedFacts>().lifetime_seconds);
    EXPECT_DOUBLE_EQ(*closed[0].as<SelfConnectClosedFacts>().lifetime_seconds, 2.5);
    EXPECT_EQ(metrics.self_connects_closed, 1u);
    EXPECT_EQ(metrics.self_connects_open, 1u);
}

TEST_F(Dispatcher, KillDestroysEachSelfConnectAndTheRecordSaysHowItWent)
{
    options.kill = true;
    EventDispatcher& d = make();
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500));
    host.kill_answer = {false, "No such file or directory"};
    d.handle(event(SC_EVENT_SELF_CONNECT, 40502));
    ASSERT_EQ(host.killed.size(), 2u);
    EXPECT_EQ(host.killed[0].port, 40500);
    const auto written = sink.of(RecordType::SelfConnect);
    ASSERT_EQ(written.size(), 2u);
    const auto& killed = written[0].as<SelfConnectFacts>().kill;
    ASSERT_TRUE(killed);
    EXPECT_TRUE(killed->ok);
    EXPECT_EQ(killed->error, "");
    const auto& failed = written[1].as<SelfConnectFacts>().kill;
    ASSERT_TRUE(failed);
    EXPECT_FALSE(failed->ok);
    EXPECT_EQ(failed->error, "No such file or directory");
    EXPECT_EQ(metrics.kills_ok, 1u);
    EXPECT_EQ(metrics.kills_failed, 1u);
}

// What the kernel folded of a loop is written as one self_connect_repeats
// record once the loop is quiet; with --kill it also destroys the loop's
// self-connect open then, and the metric counts the kill.
TEST_F(Dispatcher, ALoopsFoldedSelfConnectsAreWrittenOnceAndKillDestroysTheOneOpen)
{
    options.kill = true;
    EventDispatcher& d = make();
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500, 1'000'000'000ULL));
    sc_command_port key{};
    key.netns = kNetns;
    key.uid = 1000;
    key.port = 40500;
    key.family = AF_INET;
    std::strncpy(key.comm, "nc", sizeof(key.comm));
    host.folds.folds.push_back({key, sc_fold{{0, 0}, 50, 1'200'000'000ULL}});
    d.write_folds(1'500'000'000ULL);
    EXPECT_TRUE(sink.of(RecordType::SelfConnectRepeats).empty()) << "read a second after the record";
    d.write_folds(2'300'000'000ULL);
    const auto repeats = sink.of(RecordType::SelfConnectRepeats);
    ASSERT_EQ(repeats.size(), 1u);
    EXPECT_EQ(repeats[0].as<SelfConnectRepeatsFacts>().repeats, 50u);
    EXPECT_EQ(repeats[0].owner.comm, "nc");
    EXPECT_DOUBLE_EQ(repeats[0].as<SelfConnectRepeatsFacts>().span_seconds, 0.2);
    EXPECT_TRUE(repeats[0].as<SelfConnectRepeatsFacts>().open_one_killed);
    EXPECT_EQ(host.killed.size(), 2u);
    EXPECT_EQ(metrics.kills_ok, 2u);
    d.write_folds(10'000'000'000ULL, true);
    EXPECT_EQ(sink.of(RecordType::SelfConnectRepeats).size(), 1u) << "nothing written twice";
}

TEST_F(Dispatcher, PidCommAndNetnsFiltersLeaveOtherProcessesOut)
{
    options.comm = "curl";
    options.netns = {kNetns};
    EventDispatcher& d = make();
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500, 1, kNetns, "nc"));
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500, 1, kOtherNetns, "curl"));
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500, 1, kNetns, "curl"));
    ASSERT_EQ(sink.records.size(), 1u);
    EXPECT_EQ(sink.records[0].owner.comm, "curl");

    options.comm.reset();
    options.netns.clear();
    options.pid = kPid + 1;
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500));
    EXPECT_EQ(sink.records.size(), 1u);  // another pid
    Record unknown = event(SC_EVENT_SELF_CONNECT, 40500);
    unknown.owner = Owner{};
    d.handle(unknown);
    EXPECT_EQ(sink.records.size(), 1u);  // no owner: it cannot be that pid
}

TEST_F(Dispatcher, CountStopsAfterThatManySelfConnects)
{
    options.count = 2;
    EventDispatcher& d = make();
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500));
    EXPECT_FALSE(d.done());
    d.handle(event(SC_EVENT_SELF_CONNECT, 40502));
    EXPECT_TRUE(d.done());
    d.handle(event(SC_EVENT_SELF_CONNECT, 40504));
    EXPECT_EQ(sink.records.size(), 2u);
}

TEST_F(Dispatcher, RefusalsInAWindowMakeOneRetryLoopAndProtectReservesItsPort)
{
    options.protect = true;
    EventDispatcher& d = make();
    for (int i = 0; i < 7; ++i)
        d.handle(event(SC_EVENT_CONNECT_REFUSED, 40500, 1'000'000'000ULL + i * 1'000'000ULL));
    const auto loops = sink.of(RecordType::RetryLoop);
    ASSERT_EQ(loops.size(), 1u);
    EXPECT_EQ(loops[0].as<RetryLoopFacts>().refusals, 5u);
    EXPECT_EQ(d.retry_loop_warnings(), 1u);
    EXPECT_EQ(metrics.retry_loop_warnings, 1u);
    EXPECT_TRUE(sink.of(RecordType::ConnectRefused).empty());  // internal, never written
    ASSERT_EQ(host.protected_ports.size(), 1u);
    EXPECT_EQ(host.protected_ports[0].port, 40500);
    EXPECT_EQ(host.protected_ports[0].reason, ReserveReason::RetryLoop);
    const auto reserved = sink.of(RecordType::PortReserved);
    ASSERT_EQ(reserved.size(), 1u);
    EXPECT_EQ(metrics.ports_reserved_retry_loop, 1u);
    EXPECT_EQ(metrics.ports_reserved_listener, 0u);
}

TEST_F(Dispatcher, AListenerAtRiskIsWrittenOnceWithItsFixAndCountedUntilItCloses)
{
    EventDispatcher& d = make();
    Record found = event(SC_EVENT_LISTEN, 40800);
    found.as<ListenerAtRiskFacts>().fix = "from the scan";
    found.socket_inode = 555;
    Record self_connected = event(SC_EVENT_SELF_CONNECT, 40500);
    EXPECT_EQ(d.start_with({found, self_connected}), std::vector<uint16_t>{40500});
    EXPECT_EQ(metrics.listeners_at_risk, 1u);
    EXPECT_EQ(metrics.self_connects_open, 1u);
    ASSERT_EQ(sink.records.size(), 1u);  // the listener; the self-connect is only counted
    EXPECT_EQ(sink.records[0].as<ListenerAtRiskFacts>().fix, "from the scan");

    Record live = event(SC_EVENT_LISTEN, 40800);
    live.socket_inode = 555;
    d.handle(live);  // the same socket, seen live too
    EXPECT_EQ(sink.records.size(), 1u);
    d.handle(event(SC_EVENT_LISTEN, 40802));
    ASSERT_EQ(sink.records.size(), 2u);
    EXPECT_EQ(sink.records[1].as<ListenerAtRiskFacts>().fix, "fix for 40802");
    EXPECT_EQ(metrics.listeners_at_risk, 2u);

    Record reserved = event(SC_EVENT_LISTEN, 40804);
    reserved.reserved = true;  // a reserved port cannot be handed out
    d.handle(reserved);
    EXPECT_EQ(sink.records.size(), 2u);

    d.handle(event(SC_EVENT_LISTENER_CLOSED, 40802));
    EXPECT_EQ(metrics.listeners_at_risk, 1u);
    Record closed = event(SC_EVENT_LISTENER_CLOSED, 40800);
    closed.socket_inode = 555;
    d.handle(closed);  // seen at start and live: one socket
    EXPECT_EQ(metrics.listeners_at_risk, 0u);
    EXPECT_EQ(sink.records.size(), 2u);  // internal, never written
    EXPECT_TRUE(host.protected_ports.empty());  // no --protect
}

TEST_F(Dispatcher, AfterLostListenerEventsAScanSetsTheGaugeRightAndReportsWhatWasMissed)
{
    EventDispatcher& d = make();
    Record gone = event(SC_EVENT_LISTEN, 40800);
    gone.socket_inode = 1;
    d.handle(gone);
    EXPECT_EQ(metrics.listeners_at_risk, 1u);
    Record missed = event(SC_EVENT_LISTEN, 40802);
    missed.socket_inode = 2;
    d.resync_listeners({missed}, {kNetns});  // 40800's close and 40802's start were lost
    EXPECT_EQ(metrics.listeners_at_risk, 1u);
    ASSERT_EQ(sink.records.size(), 2u);
    EXPECT_EQ(sink.records[1].port, 40802);
    d.resync_listeners({missed}, {kNetns});
    EXPECT_EQ(sink.records.size(), 2u) << "a listener already known is not written again";
}

TEST_F(Dispatcher, ClosesTheKernelDidNotWriteTakeTheirSelfConnectsOutOfTheOpenCount)
{
    EventDispatcher& d = make();
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500));
    d.handle(event(SC_EVENT_SELF_CONNECT, 40502, 1'000'000'000ULL, kNetns, "curl", AF_INET6));
    d.handle(event(SC_EVENT_SELF_CONNECT, 40504));
    EXPECT_EQ(metrics.self_connects_open, 3u);
    const size_t written = sink.records.size();
    sc_unwritten_close v4{kNetns, AF_INET, 40500, {127, 0, 0, 1}};
    sc_unwritten_close v6{kNetns, AF_INET6, 40502, {}};
    v6.addr[15] = 1;  // ::1, as event() makes it
    sc_unwritten_close elsewhere{kNetns + 1, AF_INET, 40504, {127, 0, 0, 1}};
    const uint64_t closed_at = 2'000'000'000ULL;
    d.closes_not_written({decode_unwritten_close(v4, closed_at), decode_unwritten_close(v6, closed_at),
                          decode_unwritten_close(elsewhere, closed_at)},
                         closed_at);
    EXPECT_EQ(metrics.self_connects_open, 1u) << "40504 is open in another namespace";
    EXPECT_EQ(sink.records.size(), written) << "no record of its own";
}

// Two self-connects on one address and port, each bound to a device of
// its own, are two open ones: the close of one, written or kept, leaves
// the other.
TEST_F(Dispatcher, SelfConnectsOnOneAddressBoundToTwoDevicesAreTwoOpen)
{
    EventDispatcher& d = make();
    const auto on_device = [&](uint8_t kind, uint32_t ifindex) {
        Record r = event(kind, 40500);
        r.bound_ifindex = ifindex;
        return r;
    };
    d.handle(on_device(SC_EVENT_SELF_CONNECT, 2));
    d.handle(on_device(SC_EVENT_SELF_CONNECT, 3));
    d.handle(on_device(SC_EVENT_SELF_CONNECT, 4));
    EXPECT_EQ(metrics.self_connects_open, 3u);
    d.handle(on_device(SC_EVENT_SELF_CONNECT_CLOSED, 2));
    EXPECT_EQ(metrics.self_connects_open, 2u);
    sc_unwritten_close kept{kNetns, AF_INET, 40500, {127, 0, 0, 1}, 3};
    d.closes_not_written({decode_unwritten_close(kept, 2'000'000'000ULL)}, 2'000'000'000ULL);
    EXPECT_EQ(metrics.self_connects_open, 1u) << "the one on device 4 is open";

    // Bound to another device since it was recorded (SO_BINDTODEVICE works
    // on a connected socket): its close takes it out, the one open at its
    // address and port.
    d.handle(on_device(SC_EVENT_SELF_CONNECT_CLOSED, 9));
    EXPECT_EQ(metrics.self_connects_open, 0u);
    // With two open there, a close under a third device takes out one of
    // them, and the other's close, whichever device it carries, the other:
    // the gauge never keeps one whose socket is gone.
    d.handle(on_device(SC_EVENT_SELF_CONNECT, 2));
    d.handle(on_device(SC_EVENT_SELF_CONNECT, 3));
    d.handle(on_device(SC_EVENT_SELF_CONNECT_CLOSED, 9));
    EXPECT_EQ(metrics.self_connects_open, 1u);
    d.handle(on_device(SC_EVENT_SELF_CONNECT_CLOSED, 2));
    EXPECT_EQ(metrics.self_connects_open, 0u);
}

TEST_F(Dispatcher, AKeptCloseLeavesASelfConnectMadeAtItsAddressAfterIt)
{
    EventDispatcher& d = make();
    // Closed at 2 s (kept, not written), made again at 3 s and held: the
    // record of the new one is read before the kept close is taken.
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500, 1'000'000'000ULL));
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500, 3'000'000'000ULL));
    sc_unwritten_close first{kNetns, AF_INET, 40500, {127, 0, 0, 1}};
    d.closes_not_written({decode_unwritten_close(first, 2'000'000'000ULL)}, 2'000'000'000ULL);
    EXPECT_EQ(metrics.self_connects_open, 1u);
    d.closes_not_written({decode_unwritten_close(first, 4'000'000'000ULL)}, 4'000'000'000ULL);
    EXPECT_EQ(metrics.self_connects_open, 0u);
}

TEST_F(Dispatcher, AKeptCloseTakenBeforeItsSelfConnectsRecordIsReadStillTakesItOut)
{
    EventDispatcher& d = make();
    // Established at 1 s and closed at 2 s (kept): its record sat in the
    // ring behind one another CPU had not finished, and is read after the
    // close was taken.
    sc_unwritten_close early{kNetns, AF_INET, 40500, {127, 0, 0, 1}};
    d.closes_not_written({decode_unwritten_close(early, 2'000'000'000ULL)}, 2'000'000'000ULL);
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500, 1'000'000'000ULL));
    EXPECT_EQ(metrics.self_connects_open, 0u);
    EXPECT_EQ(sink.of(RecordType::SelfConnect).size(), 1u) << "still reported";
    // Made again after it: counted.
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500, 3'000'000'000ULL));
    EXPECT_EQ(metrics.self_connects_open, 1u);

    // A kept close whose self-connect never comes (its record was not
    // written) is forgotten a second on: a later one at its address stays.
    sc_unwritten_close never{kNetns, AF_INET, 40502, {127, 0, 0, 1}};
    d.closes_not_written({decode_unwritten_close(never, 4'000'000'000ULL)}, 4'000'000'000ULL);
    d.closes_not_written({}, 5'500'000'000ULL);
    d.handle(event(SC_EVENT_SELF_CONNECT, 40502, 3'500'000'000ULL));  // a record late by 2 s: no longer waited for
    EXPECT_EQ(metrics.self_connects_open, 2u);
}

TEST_F(Dispatcher, AfterLostClosesAScanTakesTheSelfConnectsItKnowsGoneOutOfTheOpenCount)
{
    EventDispatcher& d = make();
    constexpr uint32_t kOther = kNetns + 1;
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500, 1'000'000'000ULL));  // its close was lost
    d.handle(event(SC_EVENT_SELF_CONNECT, 40502, 1'000'000'000ULL));  // still open
    d.handle(event(SC_EVENT_SELF_CONNECT, 40504, 1'000'000'000ULL, kOther));  // in a namespace not known
    EXPECT_EQ(metrics.self_connects_open, 3u);
    const Record still = event(SC_EVENT_SELF_CONNECT, 40502);
    const Record unwritten = event(SC_EVENT_SELF_CONNECT, 40506);  // the kernel's to count, not ours
    d.resync_self_connects({still, unwritten}, {kNetns});
    EXPECT_EQ(metrics.self_connects_open, 2u);
    const size_t written = sink.records.size();

    // A close on its way during the scan is written with its lifetime.
    d.handle(event(SC_EVENT_SELF_CONNECT_CLOSED, 40500, 4'000'000'000ULL));
    auto closed = sink.of(RecordType::SelfConnectClosed);
    ASSERT_EQ(closed.size(), 1u);
    ASSERT_TRUE(closed[0].as<SelfConnectClosedFacts>().lifetime_seconds);
    EXPECT_DOUBLE_EQ(*closed[0].as<SelfConnectClosedFacts>().lifetime_seconds, 3.0);
    EXPECT_EQ(metrics.self_connects_open, 2u);
    EXPECT_EQ(sink.records.size(), written + 1) << "a scan writes no record of its own";

    // Closed unseen, it is kept for its close until the next scan only.
    d.handle(event(SC_EVENT_SELF_CONNECT, 40508, 5'000'000'000ULL));
    d.resync_self_connects({still}, {kNetns});
    d.resync_self_connects({still}, {kNetns});
    d.handle(event(SC_EVENT_SELF_CONNECT_CLOSED, 40508, 9'000'000'000ULL));
    closed = sink.of(RecordType::SelfConnectClosed);
    ASSERT_EQ(closed.size(), 2u);
    EXPECT_FALSE(closed[1].as<SelfConnectClosedFacts>().lifetime_seconds);
    EXPECT_EQ(metrics.self_connects_open, 2u);

    // The ones left close as ever.
    d.handle(event(SC_EVENT_SELF_CONNECT_CLOSED, 40502, 9'000'000'000ULL));
    d.handle(event(SC_EVENT_SELF_CONNECT_CLOSED, 40504, 9'000'000'000ULL, kOther));
    EXPECT_EQ(metrics.self_connects_open, 0u);
}

TEST_F(Dispatcher, AListenerThatStartsAgainWithinTenSecondsIsCountedNotWrittenAgain)
{
    EventDispatcher& d = make();
    for (int i = 0; i < 5; ++i) {  // a loop of listen() and close(), a second apart
        Record up = event(SC_EVENT_LISTEN, 40800, (1 + i) * 1'000'000'000ULL);
        up.socket_inode = static_cast<uint32_t>(100 + i);
        d.handle(up);
        EXPECT_EQ(metrics.listeners_at_risk, 1u);
        Record down = event(SC_EVENT_LISTENER_CLOSED, 40800, (1 + i) * 1'000'000'000ULL + 500'000'000ULL);
        down.socket_inode = up.socket_inode;
        d.handle(down);
        EXPECT_EQ(metrics.listeners_at_risk, 0u);
    }
    EXPECT_EQ(sink.records.size(), 1u);
    Record later = event(SC_EVENT_LISTEN, 40800, 12'000'000'000ULL);
    later.socket_inode = 200;
    d.handle(later);
    EXPECT_EQ(sink.records.size(), 2u) << "once the window has passed, it is written again";
    d.handle(event(SC_EVENT_LISTEN, 40802, 12'000'000'000ULL));
    EXPECT_EQ(sink.records.size(), 3u) << "another port is another listener";
}

TEST_F(Dispatcher, ProtectReservesAListenersPortAndItIsNoLongerAtRisk)
{
    options.protect = true;
    EventDispatcher& d = make();
    d.handle(event(SC_EVENT_LISTEN, 40800));
    ASSERT_EQ(host.protected_ports.size(), 1u);
    EXPECT_EQ(host.protected_ports[0].reason, ReserveReason::ListenerAtRisk);
    ASSERT_EQ(sink.records.size(), 2u);
    EXPECT_EQ(sink.records[0].type(), RecordType::ListenerAtRisk);
    EXPECT_EQ(sink.records[1].type(), RecordType::PortReserved);
    EXPECT_EQ(metrics.ports_reserved_listener, 1u);
    EXPECT_EQ(metrics.listeners_at_risk, 0u);

    host.protect_error = "cannot write";
    d.handle(event(SC_EVENT_LISTEN, 40802));
    EXPECT_EQ(metrics.ports_reserve_failed, 1u);
    EXPECT_EQ(metrics.listeners_at_risk, 1u);  // still at risk
    EXPECT_EQ(sink.records.back().as<PortReservedFacts>().error, "cannot write");

    host.protect_error.reset();
    host.protect_answer = false;  // reserved already: nothing to say
    const size_t before = sink.records.size();
    d.handle(event(SC_EVENT_LISTEN, 40804));
    EXPECT_EQ(sink.records.size(), before + 1);  // the listener only
}

HeldSocket held(uint8_t state, const char* local, bool self_connected, const char* comm = "nc")
{
    HeldSocket s;
    s.owner.known = true;
    s.owner.pid = 4100002;
    s.owner.comm = comm;
    s.state = state;
    s.local_addr = local;
    s.peer_addr = self_connected ? local : "127.0.0.9";
    s.peer_port = self_connected ? 40800 : 80;
    s.self_connected = self_connected;
    return s;
}

TEST_F(Dispatcher, APortInUseNamesTheConnectedSocketThatHoldsItAndNeverAListener)
{
    EventDispatcher& d = make();
    d.handle(event(SC_EVENT_PORT_IN_USE, 40800, 1, kNetns, "python3"));
    ASSERT_EQ(host.asked.size(), 1u);  // looked up off the ring's thread
    EXPECT_TRUE(sink.records.empty());
    const Record refused = host.asked[0];

    d.on_holders(refused, {held(10, "0.0.0.0", false, "server")});  // listening: the ordinary case
    EXPECT_TRUE(sink.records.empty());
    // ... with a client it accepted, which has the server's port too
    d.on_holders(refused, {held(10, "0.0.0.0", false, "server"), held(1, "127.0.0.1", false, "server")});
    EXPECT_TRUE(sink.records.empty());
    EXPECT_EQ(metrics.listeners_blocked, 0u);

    d.on_holders(refused, {held(1, "127.0.0.1", true)});  // no server: a client met itself there
    ASSERT_EQ(sink.records.size(), 1u);
    const Record& r = sink.records[0];
    EXPECT_EQ(r.type(), RecordType::ListenerBlocked);
    EXPECT_EQ(r.owner.comm, "python3");
    const auto& holder = r.as<ListenerBlockedFacts>().holder;
    ASSERT_TRUE(holder);
    EXPECT_EQ(holder->owner.comm, "nc");
    EXPECT_TRUE(holder->self_connected);
    EXPECT_EQ(metrics.listeners_blocked, 1u);

    d.on_holders(refused, {});  // nobody holds it any more
    EXPECT_EQ(sink.records.size(), 1u);
}

}  // namespace

// A listener whose port the kernel chose changes port at every start: it is
// written and counted at risk, with no fix and no reservation.
TEST_F(Dispatcher, AListenerWhosePortTheKernelChoseGetsNoFixAndNoReservation)
{
    options.protect = true;
    EventDispatcher& d = make();
    Record chosen = event(SC_EVENT_LISTEN, 40801);
    chosen.as<ListenerAtRiskFacts>().port_chosen_by_kernel = true;
    d.handle(chosen);
    Record named = event(SC_EVENT_LISTEN, 40800);
    named.as<ListenerAtRiskFacts>().port_chosen_by_kernel = false;
    d.handle(named);
    const auto listeners = sink.of(RecordType::ListenerAtRisk);
    ASSERT_EQ(listeners.size(), 2u);
    EXPECT_FALSE(listeners[0].as<ListenerAtRiskFacts>().fix);
    EXPECT_EQ(listeners[1].as<ListenerAtRiskFacts>().fix, "fix for 40800");
    ASSERT_EQ(host.protected_ports.size(), 1u);
    EXPECT_EQ(host.protected_ports[0].port, 40800);
    EXPECT_EQ(metrics.listeners_at_risk, 1u) << "the kernel's port stays at risk; the reserved one does not";
}

// The pod-spec line is kept only for a listener in a pod; a listener of
// the host keeps its sysctl line alone.
TEST_F(Dispatcher, OnlyAListenerInAPodGetsThePodSpecLine)
{
    EventDispatcher& d = make();
    d.handle(event(SC_EVENT_LISTEN, 40800));
    const auto listeners = sink.of(RecordType::ListenerAtRisk);
    ASSERT_EQ(listeners.size(), 1u);
    EXPECT_EQ(listeners[0].as<ListenerAtRiskFacts>().fix, "fix for 40800");
    EXPECT_FALSE(listeners[0].as<ListenerAtRiskFacts>().pod_fix) << "the owner is in no pod";
}

// The guard's records: one per (netns, process, port) and window, with
// the fix; the same loop a window later is written again.
TEST_F(Dispatcher, APreventedSelfConnectIsWrittenOncePerProcessPortAndWindow)
{
    options.retry_window_seconds = 10;
    EventDispatcher& d = make();
    for (uint64_t s = 1; s <= 5; ++s)
        d.handle(event(SC_EVENT_SELF_CONNECT_PREVENTED, 40500, s * 1'000'000'000ULL));
    d.handle(event(SC_EVENT_SELF_CONNECT_PREVENTED, 40500, 3'000'000'000ULL, kNetns, "curl"));
    d.handle(event(SC_EVENT_SELF_CONNECT_PREVENTED, 40500, 12'000'000'000ULL));
    const auto prevented = sink.of(RecordType::SelfConnectPrevented);
    ASSERT_EQ(prevented.size(), 3u);
    EXPECT_EQ(prevented[0].owner.comm, "nc");
    EXPECT_EQ(prevented[0].as<SelfConnectPreventedFacts>().fix, "fix for 40500");
    EXPECT_EQ(prevented[1].owner.comm, "curl");
    EXPECT_EQ(prevented[2].mono_ns, 12'000'000'000ULL);
}

// A connect no guard saw: the guard is attached to its namespace at every
// such record (the host side rate-limits that), and the record, written once
// per (netns, user, process name, port) and window, says whether it worked.
TEST_F(Dispatcher, AConnectTheGuardMissedAttachesItThereAndSaysHowItWent)
{
    options.retry_window_seconds = 10;
    EventDispatcher& d = make();
    d.handle(event(SC_EVENT_GUARD_MISSED, 40501, 1'000'000'000ULL));
    d.handle(event(SC_EVENT_GUARD_MISSED, 40501, 2'000'000'000ULL));
    host.guard_error = "no process is left in it";
    d.handle(event(SC_EVENT_GUARD_MISSED, 40501, 3'000'000'000ULL, kNetns, "curl"));
    EXPECT_EQ(host.guarded, (std::vector<uint32_t>{kNetns, kNetns, kNetns}));
    const auto missed = sink.of(RecordType::GuardMissed);
    ASSERT_EQ(missed.size(), 2u);
    EXPECT_EQ(missed[0].owner.comm, "nc");
    EXPECT_FALSE(missed[0].as<GuardMissedFacts>().error);
    EXPECT_EQ(missed[1].owner.comm, "curl");
    EXPECT_EQ(missed[1].as<GuardMissedFacts>().error, "no process is left in it");
    EXPECT_EQ(to_json(missed[1])["type"], "guard_missed");
    EXPECT_NE(to_text(missed[1]).find("GUARD-MISSED 127.0.0.1:40501 (no guard saw this connect's SYN; the guard "
                                      "could not be attached to this namespace: no process is left in it)"),
              std::string::npos)
        << to_text(missed[1]);
}

// --port applies to what the start scan found as the kernel applies it to
// live events: a listener on another port is neither written nor counted.
TEST_F(Dispatcher, PortFiltersTheStartScanAsItFiltersLiveEvents)
{
    options.port = 40800;
    EventDispatcher& d = make();
    d.start_with({event(SC_EVENT_LISTEN, 40800), event(SC_EVENT_LISTEN, 37291)});
    const auto listeners = sink.of(RecordType::ListenerAtRisk);
    ASSERT_EQ(listeners.size(), 1u);
    EXPECT_EQ(listeners[0].port, 40800);
    EXPECT_EQ(metrics.listeners_at_risk, 1u);
}

// Each kind's handling asks only for its own kind's fields (a record asked
// for another kind's throws std::bad_variant_access): every kernel kind,
// with every option that adds to a record.
TEST_F(Dispatcher, EveryKernelKindIsHandledWithItsOwnFields)
{
    options.kill = true;
    options.protect = true;
    EventDispatcher& d = make();
    for (const EventKind& k : kEventKinds) {
        EXPECT_NO_THROW(d.handle(event(k.number, 40500))) << k.metric_label;
        EXPECT_NO_THROW(d.on_holders(event(k.number, 40500), {held(1, "127.0.0.1", true)})) << k.metric_label;
    }
    EXPECT_NO_THROW(d.write_folds(10'000'000'000ULL, true));
    EXPECT_FALSE(sink.records.empty());
}

namespace {

// The risk map's series of one family, as served.
std::vector<std::string> series_of(const Metrics& m, const std::string& family)
{
    std::vector<std::string> lines;
    std::string text = render_prometheus(m);
    for (size_t at = 0, end; (end = text.find('\n', at)) != std::string::npos; at = end + 1) {
        const std::string line = text.substr(at, end - at);
        if (line.rfind(family + "{", 0) == 0)
            lines.push_back(line);
    }
    return lines;
}

}  // namespace

TEST_F(Dispatcher, TheRiskMapNamesEachListenerSelfConnectAndRetryLoopAndFollowsThem)
{
    options.protect = true;
    EventDispatcher& d = make();
    const uint64_t s = 1'000'000'000ULL;
    const std::string where = "netns=\"" + std::to_string(kNetns) + "\",address=\"127.0.0.1\",";
    const std::string who = "pid=\"" + std::to_string(kPid) + "\",comm=\"nc\"";
    d.handle(event(SC_EVENT_LISTEN, 40800, s));  // reserved by --protect: fixed
    host.protect_error = "cannot write";
    d.handle(event(SC_EVENT_LISTEN, 40802, s));  // still at risk
    d.handle(event(SC_EVENT_SELF_CONNECT, 40500, s));
    for (uint64_t i = 0; i < 5; ++i)  // five refusals in the window: a retry loop
        d.handle(event(SC_EVENT_CONNECT_REFUSED, 40600, s + i * 1'000'000ULL, kNetns, "curl"));
    d.publish_risk_map(2 * s);
    EXPECT_EQ(series_of(metrics, "selfconnect_listener_in_range_info"),
              (std::vector<std::string>{
                  "selfconnect_listener_in_range_info{" + where + "port=\"40802\"," + who + ",port_chosen_by=\"program\",reserved=\"false\"} 1",
                  "selfconnect_listener_in_range_info{" + where + "port=\"40800\"," + who + ",port_chosen_by=\"program\",reserved=\"true\"} 1"}))
        << "those at risk first";
    EXPECT_EQ(series_of(metrics, "selfconnect_self_connect_open_info"),
              (std::vector<std::string>{"selfconnect_self_connect_open_info{" + where + "port=\"40500\"," + who + "} 1"}));
    ASSERT_EQ(series_of(metrics, "selfconnect_retry_loop_info").size(), 1u);
    EXPECT_NE(series_of(metrics, "selfconnect_retry_loop_info")[0].find("port=\"40600\",pid=\"" +
                                                                          std::to_string(kPid) + "\",comm=\"curl\""),
              std::string::npos);

    // They go: the listener closes, the self-connect closes, the loop goes quiet.
    d.handle(event(SC_EVENT_LISTENER_CLOSED, 40802, 3 * s));
    d.handle(event(SC_EVENT_SELF_CONNECT_CLOSED, 40500, 3 * s));
    d.publish_risk_map(2 * s + s / 2);
    EXPECT_EQ(series_of(metrics, "selfconnect_self_connect_open_info").size(), 1u) << "at most once a second";
    d.publish_risk_map(4 * s);
    EXPECT_EQ(series_of(metrics, "selfconnect_listener_in_range_info").size(), 1u);
    EXPECT_TRUE(series_of(metrics, "selfconnect_self_connect_open_info").empty());
    EXPECT_EQ(series_of(metrics, "selfconnect_retry_loop_info").size(), 1u) << "refused 3 s ago: under way";
    d.publish_risk_map(12 * s);
    EXPECT_TRUE(series_of(metrics, "selfconnect_retry_loop_info").empty()) << "quiet for a window: over";
}

TEST_F(Dispatcher, AListenerWhosePortTheAdministratorReservedShowsFixedAndAtRiskAgainWhenTakenAway)
{
    EventDispatcher& d = make();
    Record listener = event(SC_EVENT_LISTEN, 40800);
    listener.socket_inode = 7;
    d.handle(listener);
    Record now_reserved = listener;
    now_reserved.reserved = true;
    d.policies_changed({}, {now_reserved}, {kNetns});  // the scan after the sysctl changed
    EXPECT_EQ(metrics.listeners_at_risk, 0u);
    d.publish_risk_map(1'000'000'000ULL);
    ASSERT_EQ(series_of(metrics, "selfconnect_listener_in_range_info").size(), 1u);
    EXPECT_NE(series_of(metrics, "selfconnect_listener_in_range_info")[0].find("reserved=\"true\""),
              std::string::npos);
    const size_t written = sink.records.size();
    d.policies_changed({}, {listener}, {kNetns});  // the reservation taken away
    EXPECT_EQ(metrics.listeners_at_risk, 1u);
    EXPECT_EQ(sink.records.size(), written + 1) << "at risk again: written again";
    d.publish_risk_map(2'000'000'000ULL);
    EXPECT_NE(series_of(metrics, "selfconnect_listener_in_range_info")[0].find("reserved=\"false\""),
              std::string::npos);
}
