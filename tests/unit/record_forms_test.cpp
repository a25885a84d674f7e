// Every kind of record, with each combination of its fields, in both forms
// and in audit's text, held to the lines the build before typed records
// wrote (data/record_forms.txt): the regroup of the record model changed
// no byte of output, and no later change of a form goes unnoticed. To
// change a form on purpose, change the file in the same commit.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "records/line_writer.h"
#include "records/record.h"
#include "records/record_json.h"
#include "records/record_sink.h"
#include "records/record_text.h"

using namespace selfconnect;

namespace {

Record base(uint16_t port = 44600, bool v6 = false)
{
    Record r;
    r.time = std::chrono::system_clock::time_point(std::chrono::seconds(1764990000) + std::chrono::microseconds(123456));
    r.mono_ns = 5'000'000'000ULL;
    r.owner.known = true;
    r.owner.pid = 4242;
    r.owner.tid = 4243;
    r.owner.uid = 1000;
    r.owner.comm = "nc";
    r.owner.cgroup_id = 77;
    r.owner.cgroup_path = "/user.slice";
    r.netns = 4026531840u;
    r.family = v6 ? AF_INET6 : AF_INET;
    r.addr = v6 ? "::1" : "127.0.0.1";
    r.port = port;
    r.range_lo = 32768;
    r.range_hi = 60999;
    return r;
}

template <typename Facts>
Record of(Record r, Facts facts = {})
{
    r.facts = std::move(facts);
    return r;
}

std::vector<Record> every_kind()
{
    std::vector<Record> out;
    out.push_back(of<SelfConnectFacts>(base()));
    {
        Record r = of<SelfConnectFacts>(base(44601, true));
        r.owner.container_id = std::string(64, 'a');
        r.owner.container_name = "web";
        r.owner.pod_uid = "uid-1";
        r.owner.pod_name = "p";
        r.owner.pod_namespace = "ns";
        out.push_back(r);
    }
    {
        Record r = of<SelfConnectFacts>(base());
        r.owner = Owner{};
        out.push_back(r);
    }
    out.push_back(of(base(), SelfConnectFacts{KillOutcome{true, ""}, {}}));
    out.push_back(of(base(), SelfConnectFacts{KillOutcome{false, "Operation not permitted"}, {}}));
    out.push_back(of(base(), SelfConnectFacts{{}, "sysctl -w net.ipv4.ip_local_reserved_ports=44600"}));
    out.push_back(of<SelfConnectClosedFacts>(base()));
    out.push_back(of(base(), SelfConnectClosedFacts{2.5}));
    out.push_back(of<ConnectRefusedFacts>(base()));
    out.push_back(of(base(), RetryLoopFacts{7, 10}));
    for (uint16_t port : {44600, 44601, 1000})
        for (int chosen : {-1, 0, 1})
            for (int fix : {0, 1})
                for (int pod : {0, 1}) {
                    ListenerAtRiskFacts f;
                    if (chosen >= 0)
                        f.port_chosen_by_kernel = chosen == 1;
                    if (fix)
                        f.fix = "sysctl -w x";
                    if (pod)
                        f.pod_fix = "securityContext: {}";
                    Record r = of(base(port), f);
                    r.reserved = port == 1000;
                    out.push_back(r);
                }
    for (auto reason : {ReserveReason::ListenerAtRisk, ReserveReason::RetryLoop, ReserveReason::SelfConnect}) {
        PortReservedFacts f;
        f.reason = reason;
        f.reserved_ports = "8080,44600";
        out.push_back(of(base(), f));
        f.persist = "net.ipv4.ip_local_reserved_ports = 8080,44600";
        out.push_back(of(base(), f));
        f.error = "cannot write";
        out.push_back(of(base(), f));
    }
    {
        Record r = of<ListenerBlockedFacts>(base());
        r.owner.comm = "python3";
        out.push_back(r);
        HeldSocket h;
        h.owner.known = true;
        h.owner.pid = 790;
        h.owner.comm = "nc";
        h.owner.uid = 5;
        h.peer_addr = "127.0.0.1";
        h.peer_port = 44600;
        h.self_connected = true;
        r.facts = ListenerBlockedFacts{h};
        out.push_back(r);
        h.self_connected = false;
        h.peer_addr = "::1";
        h.peer_port = 80;
        h.owner.container_id = std::string(64, 'b');
        h.owner.container_name = "db";
        r.facts = ListenerBlockedFacts{h};
        out.push_back(r);
    }
    out.push_back(of<ListenerClosedFacts>(base()));
    out.push_back(of<PortInUseFacts>(base()));
    out.push_back(of<SelfConnectPreventedFacts>(base()));
    out.push_back(of(base(), SelfConnectPreventedFacts{"sysctl -w y"}));
    out.push_back(of<GuardMissedFacts>(base()));
    out.push_back(of(base(), GuardMissedFacts{"no process is left in it"}));
    out.push_back(of(base(), SelfConnectRepeatsFacts{187000, 1'000'000'000ULL, 5.98, false}));
    out.push_back(of(base(), SelfConnectRepeatsFacts{187000, 1'000'000'000ULL, 5.98, true}));
    return out;
}

// What TextSink writes for audit, through a real LineWriter.
std::string audit_text(const std::vector<Record>& records)
{
    const int fd = memfd_create("audit", MFD_CLOEXEC);
    EXPECT_GE(fd, 0);
    {
        LineWriter out(fd);
        TextSink sink(out);
        AuditReport report;
        report.namespaces = 2;
        report.self_connects = 1;
        report.listeners = 2;
        for (const Record& r : records)
            if (r.type() != RecordType::ListenerBlocked)
                report.records.push_back(r);
        sink.write_audit(report);
    }
    std::string text(static_cast<size_t>(lseek(fd, 0, SEEK_END)), '\0');
    EXPECT_EQ(pread(fd, text.data(), text.size(), 0), static_cast<ssize_t>(text.size()));
    close(fd);
    return text;
}

// "since" is a wall time made from the monotonic clock: it moves with the run.
std::string without_since(const std::string& s)
{
    return std::regex_replace(std::regex_replace(s, std::regex("since [0-9T:.-]+Z"), "since X"),
                              std::regex("\"since\":\"[^\"]+\""), "\"since\":\"X\"");
}

}  // namespace

TEST(RecordForms, EveryKindIsWrittenAsTheFileSays)
{
    std::ostringstream now;
    const std::vector<Record> records = every_kind();
    for (const Record& r : records)
        now << to_text(r) << "\n" << json_line(to_json(r)) << "\n";
    now << audit_text(records);
    std::ifstream file(SC_RECORD_FORMS_FILE);
    ASSERT_TRUE(file) << SC_RECORD_FORMS_FILE;
    std::stringstream expected;
    expected << file.rdbuf();
    std::istringstream want(expected.str()), got(without_since(now.str()));
    std::string w, g;
    for (size_t line = 1; std::getline(want, w); ++line) {
        ASSERT_TRUE(std::getline(got, g)) << "line " << line << " is missing: " << w;
        EXPECT_EQ(g, w) << "line " << line;
    }
    EXPECT_FALSE(std::getline(got, g)) << "a line more than the file: " << g;
}
