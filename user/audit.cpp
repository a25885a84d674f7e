#include "audit.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <span>
#include <sstream>

#include "container_identity.h"
#include "netns.h"
#include "output.h"
#include "port_reserver.h"
#include "port_set.h"
#include "privileges.h"
#include "sock_diag.h"
#include "socket_owners.h"
#include "text_format.h"

namespace selfconnect {

namespace {

constexpr int kCapSysAdmin = 21;

// States a self-connected socket can be in once its handshake completed.
constexpr uint32_t kConnectedStates = (1U << 1) | (1U << 4) | (1U << 5) | (1U << 8) | (1U << 9) | (1U << 11) |
                                      (1U << 3);

struct PortPolicy {
    uint16_t lo = 0;
    uint16_t hi = 0;
    PortSet reserved;
};

std::string read_first_line(const char* path)
{
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// The namespace's own sysctls: /proc/sys/net answers for the reader's namespace.
PortPolicy read_port_policy(int netns_fd)
{
    PortPolicy p;
    run_in_netns(netns_fd, [&] {
        std::istringstream range(read_first_line("/proc/sys/net/ipv4/ip_local_port_range"));
        unsigned lo = 0, hi = 0;
        if (!(range >> lo >> hi))
            throw std::runtime_error("cannot read net.ipv4.ip_local_port_range");
        p.lo = static_cast<uint16_t>(lo);
        p.hi = static_cast<uint16_t>(hi);
        p.reserved = parse_port_list(read_first_line("/proc/sys/net/ipv4/ip_local_reserved_ports")).value_or(PortSet{});
    });
    return p;
}

bool is_self_connected(const TcpSocket& s)
{
    return s.sport == s.dport && s.src == s.dst;
}

Record record_of(RecordType type, const TcpSocket& s, uint32_t netns, const PortPolicy& policy,
                 const std::unordered_map<uint32_t, SocketHolder>& holders)
{
    Record r;
    r.type = type;
    r.time = std::chrono::system_clock::now();
    r.netns = netns;
    r.family = s.family;
    r.addr = format_address(s.family, std::span<const uint8_t, 16>(s.src.data(), 16));
    r.v4_mapped = s.family == AF_INET6 && r.addr.rfind("::ffff:", 0) == 0;
    r.port = s.sport;
    r.range_lo = policy.lo;
    r.range_hi = policy.hi;
    r.reserved = policy.reserved.test(s.sport);
    if (auto it = holders.find(s.inode); it != holders.end() && s.inode) {
        r.owner.known = true;
        r.owner.pid = it->second.pid;
        r.owner.tid = it->second.pid;
        r.owner.comm = it->second.comm;
        r.owner.uid = s.uid;
        r.owner.cgroup_path = cgroup_path_of_pid(it->second.pid);
    }
    return r;
}

// How a person runs the fix inside that namespace.
std::string fix_line(const NetnsHandle& ns, uint32_t inode, const PortSet& reserve)
{
    std::string cmd = "sysctl -w net.ipv4.ip_local_reserved_ports=" + format_port_list(reserve);
    if (inode == current_netns_inode())
        return cmd;
    if (ns.path.rfind("/run/netns/", 0) == 0)
        return "ip netns exec " + ns.path.substr(11) + " " + cmd;
    return "nsenter --net=" + ns.path + " " + cmd;
}

struct Findings {
    std::vector<Record> records;
    uint64_t self_connects = 0;
    uint64_t listeners = 0;
    uint64_t kill_failures = 0;
    uint64_t fix_failures = 0;
};

// audit --fix: one port_reserved record for each port the fix added.
// The namespace's findings are out.records[first...].
void apply_fix(const NetnsHandle& ns, uint32_t inode, const PortSet& before, const PortSet& reserve, size_t first,
               Findings& out)
{
    const bool here = inode == current_netns_inode();
    const ReserveResult result = reserve_ports(ns.fd.get(), reserve);
    const size_t found_end = out.records.size();
    for (size_t i = first; i < found_end; ++i) {
        const uint16_t port = out.records[i].port;
        const bool listener = out.records[i].type == RecordType::ListenerAtRisk;
        if (before.test(port) || !reserve.test(port))
            continue;
        Record r;
        r.type = RecordType::PortReserved;
        r.time = std::chrono::system_clock::now();
        r.netns = inode;
        r.port = port;
        r.reason = listener ? "listener_at_risk" : "self_connect";
        r.reserved_ports = result.list;
        r.error = result.error;
        if (here && !result.error)
            r.persist = persistent_sysctl_line(result.list);
        out.records.push_back(std::move(r));
    }
    if (result.error)
        ++out.fix_failures;
}

void audit_namespace(uint32_t inode, const NetnsHandle& ns, const AuditOptions& o,
                     const std::unordered_map<uint32_t, SocketHolder>& holders, Findings& out)
{
    const PortPolicy policy = read_port_policy(ns.fd.get());
    SockDiag diag(ns.fd.get());
    std::vector<Record> found;
    PortSet reserve = policy.reserved;
    for (uint16_t family : {AF_INET, AF_INET6}) {
        for (const TcpSocket& s : diag.list(family, kConnectedStates | (1U << kTcpListen))) {
            const bool in_range = s.sport >= policy.lo && s.sport <= policy.hi;
            if (s.state == kTcpListen) {
                if (!in_range || policy.reserved.test(s.sport))
                    continue;
                found.push_back(record_of(RecordType::ListenerAtRisk, s, inode, policy, holders));
                reserve.set(s.sport);
                ++out.listeners;
            } else if (is_self_connected(s)) {
                Record r = record_of(RecordType::SelfConnect, s, inode, policy, holders);
                if (o.kill) {
                    const int err = diag.destroy(s);
                    r.killed = err == 0;
                    if (err) {
                        r.kill_error = strerror(err);
                        ++out.kill_failures;
                    }
                }
                found.push_back(std::move(r));
                if (in_range)
                    reserve.set(s.sport);
                ++out.self_connects;
            }
        }
    }
    if (reserve != policy.reserved)
        for (Record& r : found)
            r.fix = fix_line(ns, inode, reserve);
    const size_t first = out.records.size();
    for (Record& r : found)
        out.records.push_back(std::move(r));
    if (o.fix && reserve != policy.reserved)
        apply_fix(ns, inode, policy.reserved, reserve, first, out);
}

bool wanted_netns(const std::vector<uint32_t>& only, uint32_t inode)
{
    return only.empty() || std::find(only.begin(), only.end(), inode) != only.end();
}

void print_text(const Findings& f, size_t namespaces, LineWriter& out)
{
    out.write_line("selfconnect audit: " + std::to_string(namespaces) + " network namespaces, " +
                   std::to_string(f.self_connects) + " self-connected sockets, " + std::to_string(f.listeners) +
                   " listeners at risk");
    std::string last_fix;
    for (const Record& r : f.records) {
        if (r.type == RecordType::PortReserved) {
            out.write_line(to_text(r));
            continue;
        }
        Record shown = r;
        shown.fix.reset();  // printed once per namespace, below
        out.write_line(to_text(shown));
        if (r.fix && *r.fix != last_fix) {
            out.write_line("  fix for netns " + std::to_string(r.netns) + ": " + *r.fix);
            last_fix = *r.fix;
        }
    }
}

}  // namespace

int run_audit(const AuditOptions& o)
{
    if (!has_effective_capability(kCapSysAdmin)) {
        std::fprintf(stderr, "selfconnect: not privileged enough: audit needs CAP_SYS_ADMIN to enter every "
                             "network namespace; run as root\n");
        return 2;
    }
    if (o.kill)
        if (auto missing = missing_kill_capabilities()) {
            std::fprintf(stderr, "selfconnect: %s\n", missing->c_str());
            return 2;
        }
    Findings findings;
    size_t namespaces = 0;
    try {
        const auto holders = socket_holders();
        for (const auto& [inode, ns] : list_network_namespaces()) {
            if (!wanted_netns(o.netns, inode))
                continue;
            try {
                audit_namespace(inode, ns, o, holders, findings);
                ++namespaces;
            } catch (const std::exception& e) {
                // A namespace can vanish mid-audit; say so, go on.
                if (o.verbose)
                    std::fprintf(stderr, "selfconnect: skipped netns %u: %s\n", inode, e.what());
            }
        }
        std::signal(SIGPIPE, SIG_IGN);
        LineWriter out(STDOUT_FILENO);
        if (o.json) {
            JsonSink sink(out);
            for (const Record& r : findings.records)
                sink.write(r);
        } else {
            print_text(findings, namespaces, out);
        }
    } catch (const OutputClosed&) {
    } catch (const std::exception& e) {
        std::fprintf(stderr, "selfconnect: %s\n", e.what());
        return 2;
    }
    if (findings.kill_failures || findings.fix_failures)
        return 2;
    if (o.fix)
        return 0;  // every namespace's fix applied: nothing is left at risk
    return findings.records.empty() ? 0 : 1;
}

std::vector<Record> scan_now(const std::vector<uint32_t>& only_netns)
{
    Findings findings;
    const AuditOptions options;
    const auto holders = socket_holders();
    // Entering another namespace needs CAP_SYS_ADMIN: without it (a
    // hardened unit) only the watcher's own is scanned.
    const bool may_enter = may_administer_system();
    for (const auto& [inode, ns] : list_network_namespaces()) {
        if (!wanted_netns(only_netns, inode) || (!may_enter && inode != current_netns_inode()))
            continue;
        try {
            audit_namespace(inode, ns, options, holders, findings);
        } catch (const std::exception&) {
            // gone while we looked: it has no listener any more
        }
    }
    return std::move(findings.records);
}

}  // namespace selfconnect
