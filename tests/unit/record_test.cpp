#include <gtest/gtest.h>

#include <sys/socket.h>

#include <sys/stat.h>

#include <cstring>
#include <map>
#include <optional>
#include <filesystem>

#include "records/event_decoding.h"
#include "records/owner_enricher.h"
#include "records/record_json.h"
#include "records/record_text.h"

using namespace selfconnect;
using nlohmann::json;

namespace {

// A directory tree that stands in for the cgroup v2 mount; removed after.
struct CgroupTree {
    std::string root;
    CgroupTree()
    {
        char dir[] = "/tmp/sc-cgroups-XXXXXX";
        root = mkdtemp(dir);
    }
    ~CgroupTree() { std::filesystem::remove_all(root); }
    // Makes the cgroup `path` and returns its id.
    uint64_t make(const std::string& path) const
    {
        std::filesystem::create_directories(root + path);
        struct stat st{};
        stat((root + path).c_str(), &st);
        return st.st_ino;
    }
};

sc_event sample_event()
{
    sc_event e{};
    e.kind = SC_EVENT_SELF_CONNECT;
    e.owner = SC_OWNER_CONNECT;
    e.tgid = 4242;
    e.tid = 4243;
    e.uid = 1000;
    e.netns = 4026531840u;
    e.cgroup_id = 77;
    e.family = AF_INET;
    e.port = 44600;
    e.range_lo = 32768;
    e.range_hi = 60999;
    e.addr[0] = 127;
    e.addr[3] = 1;
    std::memcpy(e.comm, "nc", 2);
    return e;
}

}  // namespace

TEST(EventDecoding, ASelfConnectEventBecomesTheDocumentedJsonRecord)
{
    const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    const json j = to_json(*decode_event(sample_event(), when));
    EXPECT_EQ(j["type"], "self_connect");
    EXPECT_EQ(j["time"], "2023-11-14T22:13:20.000000Z");
    EXPECT_EQ(j["pid"], 4242);
    EXPECT_EQ(j["tid"], 4243);
    EXPECT_EQ(j["comm"], "nc");
    EXPECT_EQ(j["uid"], 1000);
    EXPECT_EQ(j["netns"], 4026531840u);
    EXPECT_EQ(j["cgroup"], 77);
    EXPECT_EQ(j["family"], "ipv4");
    EXPECT_EQ(j["addr"], "127.0.0.1");
    EXPECT_EQ(j["port"], 44600);
    EXPECT_EQ(j["in_ephemeral_range"], true);
    EXPECT_EQ(j["reserved"], false);
    EXPECT_EQ(j["ephemeral_range"], json::array({32768, 60999}));
    EXPECT_EQ(j["owner_known"], true);
}

TEST(EventDecoding, AnUnknownOwnerIsNullNotAGuess)
{
    sc_event e = sample_event();
    e.owner = SC_OWNER_UNKNOWN;
    const json j = to_json(*decode_event(e, {}));
    EXPECT_TRUE(j["pid"].is_null());
    EXPECT_TRUE(j["comm"].is_null());
    EXPECT_EQ(j["owner_known"], false);
}

TEST(EventDecoding, AV4MappedAddressIsIpv6AndSaysSo)
{
    sc_event e = sample_event();
    e.family = AF_INET6;
    const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    std::memcpy(e.addr, mapped, 16);
    const json j = to_json(*decode_event(e, {}));
    EXPECT_EQ(j["family"], "ipv6");
    EXPECT_EQ(j["addr"], "::ffff:127.0.0.1");
    EXPECT_EQ(j["v4_mapped"], true);
}

// A socket bound to a device (SO_BINDTODEVICE) says which: another bound
// to another device may have the same address and port. A listener's slot
// holds its inode instead, never read as a device.
TEST(EventDecoding, ASelfConnectBoundToADeviceSaysWhichAndAListenerNever)
{
    sc_event e = sample_event();
    e.bound_dev_if = 7;
    const Record r = *decode_event(e, {});
    EXPECT_EQ(r.bound_ifindex, 7u);
    EXPECT_EQ(to_json(r)["bound_ifindex"], 7);
    EXPECT_NE(to_text(r).find("127.0.0.1:44600 (bound to interface 7)"), std::string::npos) << to_text(r);
    EXPECT_FALSE(to_json(*decode_event(sample_event(), {})).contains("bound_ifindex")) << "bound to none";

    sc_event listener = sample_event();
    listener.kind = SC_EVENT_LISTEN;
    listener.sock_ino = 9001;
    const Record l = *decode_event(listener, {});
    EXPECT_EQ(l.socket_inode, 9001u);
    EXPECT_EQ(l.bound_ifindex, 0u);
    EXPECT_FALSE(to_json(l).contains("bound_ifindex"));

    // A listen() refused names no listener: its slot holds the device.
    sc_event refused = sample_event();
    refused.kind = SC_EVENT_PORT_IN_USE;
    refused.bound_dev_if = 7;
    EXPECT_EQ(decode_event(refused, {})->bound_ifindex, 7u);

    sc_unwritten_close close{4026531840u, AF_INET, 44600, {127, 0, 0, 1}, 7};
    EXPECT_EQ(decode_unwritten_close(close, 1).bound_ifindex, 7u);
}

// Every kind the BPF program writes is a record of its own type; a kind
// this loader does not know is no record at all (it is counted as lost),
// never a self-connect.
TEST(EventDecoding, EveryKernelKindHasItsTypeAndAnUnknownKindIsNoRecord)
{
    const std::map<uint8_t, RecordType> kinds = {
        {SC_EVENT_SELF_CONNECT, RecordType::SelfConnect},
        {SC_EVENT_CONNECT_REFUSED, RecordType::ConnectRefused},
        {SC_EVENT_SELF_CONNECT_CLOSED, RecordType::SelfConnectClosed},
        {SC_EVENT_LISTEN, RecordType::ListenerAtRisk},
        {SC_EVENT_LISTENER_CLOSED, RecordType::ListenerClosed},
        {SC_EVENT_PORT_IN_USE, RecordType::PortInUse},
        {SC_EVENT_SELF_CONNECT_PREVENTED, RecordType::SelfConnectPrevented},
        {SC_EVENT_GUARD_MISSED, RecordType::GuardMissed},
    };
    sc_event e = sample_event();
    for (unsigned kind = 0; kind < 256; ++kind) {
        e.kind = static_cast<uint8_t>(kind);
        const std::optional<Record> r = decode_event(e, {});
        const auto known = kinds.find(static_cast<uint8_t>(kind));
        if (known == kinds.end()) {
            EXPECT_FALSE(r.has_value()) << "kind " << kind << " is no kind the kernel writes";
        } else {
            ASSERT_TRUE(r.has_value()) << "kind " << kind;
            EXPECT_EQ(r->type(), known->second) << "kind " << kind;
        }
    }
    EXPECT_EQ(kinds.size(), static_cast<size_t>(SC_EVENT_KINDS - 1)) << "a kind of bpf/events.h is not mapped here";
}

TEST(EventDecoding, EventsOfAnUnknownKindAreReportedLostWithTheirOwnWhere)
{
    LostEvents l;
    l.where = LossPlace::UnknownKind;
    l.count = 2;
    l.total = 3;
    const json j = lost_json(l);
    EXPECT_EQ(j["type"], "events_lost");
    EXPECT_EQ(j["where"], "unknown_kind");
    EXPECT_EQ(j["count"], 2);
    EXPECT_EQ(j["total"], 3);
    EXPECT_NE(lost_text(l).find("LOST 2 events of a kind this build of selfconnect does not know"), std::string::npos)
        << lost_text(l);
}

TEST(JsonEncoding, AHostileNameStillGivesOneValidJsonLine)
{
    sc_event e = sample_event();
    std::memcpy(e.comm, "\n\"\x1b[2J\xff\xfe}", 9);
    const std::string line = json_line(to_json(*decode_event(e, {})));
    EXPECT_EQ(line.find('\n'), std::string::npos);
    const json back = json::parse(line);  // throws if invalid
    EXPECT_EQ(back["comm_hex"], "0a221b5b324afffe7d");
}

TEST(JsonEncoding, DelAndC1ControlsAreEscapedYetTheSameString)
{
    // Valid JSON raw, but a terminal acts on them and journald keeps a
    // MESSAGE holding one as bytes, not text.
    sc_event e = sample_event();
    std::memcpy(e.comm, "a\x7f" "b\xc2\x85" "c\xc2\x9f" "\xc2\xa0", 10);
    const std::string line = json_line(to_json(*decode_event(e, {})));
    EXPECT_NE(line.find("\"comm\":\"a\\u007fb\\u0085c\\u009f\xc2\xa0\""), std::string::npos) << line;
    EXPECT_EQ(line.find('\x7f'), std::string::npos);
    EXPECT_EQ(json::parse(line)["comm"], "a\x7f" "b\xc2\x85" "c\xc2\x9f" "\xc2\xa0") << "the same string";
}

TEST(TextEncoding, ALineSaysWhatHappenedAndEscapesTheName)
{
    sc_event e = sample_event();
    std::memcpy(e.comm, "evil\x1b[2J", 8);
    const std::string line = to_text(*decode_event(e, {}));
    EXPECT_NE(line.find("SELF-CONNECT 127.0.0.1:44600 -> itself pid=4242 comm=evil\\x1b[2J uid=1000"),
              std::string::npos)
        << line;
    EXPECT_NE(line.find("in ephemeral range 32768-60999, not reserved"), std::string::npos) << line;
    EXPECT_EQ(line.find('\x1b'), std::string::npos);
}

TEST(EventDecoding, AnOwnerInAContainerCarriesItsIdAndPodAndTheTextAShortId)
{
    const std::string id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    // A cgroup tree of our own: on cgroup v2 the kernel's cgroup id is the
    // inode of the cgroup's directory.
    const CgroupTree tree;
    const std::string pod_path = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
                                 "7c1e2f4a_9b3d_4e5f_8a6b_0c1d2e3f4a5b.slice/cri-containerd-" + id + ".scope";
    const std::string session_path = "/user.slice/user-1000.slice/session-2.scope";
    const uint64_t in_pod = tree.make(pod_path);
    const uint64_t in_session = tree.make(session_path);
    OwnerEnricher enricher(CgroupPaths(tree.root));
    Record r = *decode_event(sample_event(), std::chrono::system_clock::now());
    r.owner.cgroup_id = in_pod;
    enricher.enrich(r);
    EXPECT_EQ(r.owner.cgroup_path, pod_path);
    const json j = to_json(r);
    EXPECT_EQ(j["container_id"], id);
    EXPECT_EQ(j["pod_uid"], "7c1e2f4a-9b3d-4e5f-8a6b-0c1d2e3f4a5b");
    const std::string text = to_text(r);
    EXPECT_NE(text.find(" container=0123456789ab "), std::string::npos) << text;
    EXPECT_NE(text.find(" pod=7c1e2f4a-9b3d-4e5f-8a6b-0c1d2e3f4a5b"), std::string::npos) << text;

    r.owner.cgroup_id = in_session;
    enricher.enrich(r);
    const json plain = to_json(r);
    EXPECT_EQ(plain["cgroup_path"], session_path);
    EXPECT_FALSE(plain.contains("container_id"));
    EXPECT_FALSE(plain.contains("pod_uid"));
}

TEST(EventDecoding, NewRecordsPrintTheirOwnFields)
{
    Record reserved;
    reserved.netns = 4026531840u;
    reserved.port = 40500;
    PortReservedFacts facts;
    facts.reason = ReserveReason::RetryLoop;
    facts.reserved_ports = "8080,40500";
    facts.persist = "net.ipv4.ip_local_reserved_ports = 8080,40500";
    reserved.facts = facts;
    const json j = to_json(reserved);
    EXPECT_EQ(j["type"], "port_reserved");
    EXPECT_EQ(j["reason"], "retry_loop");
    EXPECT_EQ(j["reserved_ports"], "8080,40500");
    EXPECT_NE(to_text(reserved).find("/etc/sysctl.d/"), std::string::npos) << to_text(reserved);

    Record blocked = *decode_event(sample_event(), std::chrono::system_clock::now());
    blocked.owner.comm = "python3";
    HeldSocket holder;
    holder.owner.pid = 790;
    holder.owner.comm = "nc";
    holder.peer_addr = "127.0.0.1";
    holder.peer_port = 44600;
    holder.self_connected = true;
    blocked.facts = ListenerBlockedFacts{holder};
    const std::string text = to_text(blocked);
    EXPECT_NE(text.find("python3 (pid 4242) cannot listen on 127.0.0.1:44600"), std::string::npos) << text;
    EXPECT_NE(text.find("held by nc (pid 790), connected to itself; 'selfconnect audit --kill' frees it"),
              std::string::npos)
        << text;
    EXPECT_EQ(to_json(blocked)["holder"]["self_connected"], true);
}

// A loop's folded self-connects: how many, over how long, since when, in
// both forms; with --kill, that only the one open then was destroyed.
TEST(EventDecoding, ARepeatsRecordSaysHowManyOverHowLongAndSinceWhen)
{
    Record r = *decode_event(sample_event(), std::chrono::system_clock::now());
    SelfConnectRepeatsFacts repeats;
    repeats.repeats = 187000;
    repeats.since_mono_ns = r.mono_ns;
    repeats.span_seconds = 5.98;
    r.facts = repeats;
    const json j = to_json(r);
    EXPECT_EQ(j["type"], "self_connect_repeats");
    EXPECT_EQ(j["repeats"], 187000);
    EXPECT_DOUBLE_EQ(j["span_seconds"].get<double>(), 5.98);
    EXPECT_TRUE(j.contains("since"));
    std::string text = to_text(r);
    EXPECT_NE(text.find("SELF-CONNECT-REPEATED 127.0.0.1:44600 -> itself: 187000 more in 5.980s since "),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("; last recorded"), std::string::npos) << text;
    r.as<SelfConnectRepeatsFacts>().open_one_killed = true;
    text = to_text(r);
    EXPECT_NE(text.find("[the one open now killed]"), std::string::npos) << text;
}

TEST(EventDecoding, AListenerAtRiskSaysWhichParityConnectTriesFirstAndItsFix)
{
    Record r = *decode_event(sample_event(), std::chrono::system_clock::now());
    r.facts = ListenerAtRiskFacts{};
    r.range_lo = 32768;
    r.port = 44600;  // even, like the range's lower bound
    r.as<ListenerAtRiskFacts>().fix = "sysctl -w net.ipv4.ip_local_reserved_ports=44600";
    const std::string even = to_text(r);
    EXPECT_NE(even.find("; connect() tries ports of this parity first; fix: sysctl -w"), std::string::npos) << even;
    r.port = 44601;
    r.as<ListenerAtRiskFacts>().fix.reset();
    const std::string odd = to_text(r);
    EXPECT_NE(odd.find("; connect() reaches this parity only after the other"), std::string::npos) << odd;
    EXPECT_EQ(odd.find("fix:"), std::string::npos) << odd;
}

TEST(EventDecoding, WhatTheOpenCountCouldNotFollowIsReportedLostByKind)
{
    LostEvents l;
    l.where = LossPlace::OpenCount;
    l.count = 5;
    l.total = 7;
    l.by_kind[SC_EVENT_SELF_CONNECT] = 2;
    l.by_kind[SC_EVENT_SELF_CONNECT_CLOSED] = 5;
    const json j = lost_json(l);
    EXPECT_EQ(j["type"], "events_lost");
    EXPECT_EQ(j["where"], "open_count");
    EXPECT_EQ(j["count"], 5);
    EXPECT_EQ(j["total"], 7);
    EXPECT_EQ(j["self_connects"], 2);
    EXPECT_EQ(j["self_connect_closes"], 5);
    const std::string text = lost_text(l);
    EXPECT_NE(text.find("LOST 5 self-connects or closes to the open count"), std::string::npos) << text;
    EXPECT_NE(text.find("low until those self-connects close, or high until"), std::string::npos) << text;
    EXPECT_NE(text.find("(in all: 2 self-connects, 5 closes)"), std::string::npos) << text;
}
