#include "prevent/risk_scan.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <span>
#include <sstream>
#include <stdexcept>

#include "host/capabilities.h"
#include "host/socket_owners.h"
#include "host/tcp_states.h"
#include "prevent/fix_policy.h"
#include "prevent/namespace_scans.h"
#include "prevent/reserved_ports.h"
#include "records/text_format.h"

namespace selfconnect {

namespace {

// States a self-connected socket can be in once its handshake completed.
constexpr uint32_t kConnectedStates =
    tcp_state_bit(kTcpEstablished) | tcp_state_bit(kTcpSynRecv) | tcp_state_bit(kTcpFinWait1) |
    tcp_state_bit(kTcpFinWait2) | tcp_state_bit(kTcpCloseWait) | tcp_state_bit(kTcpLastAck) |
    tcp_state_bit(kTcpClosing);

std::string read_first_line(const char* path)
{
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

bool is_self_connected(const TcpSocket& s)
{
    return s.sport == s.dport && s.src == s.dst;
}

// The namespace's own sysctls: /proc/sys/net answers for the reader's namespace.
PortPolicy read_port_policy_here()
{
    PortPolicy p;
    std::istringstream range(read_first_line("/proc/sys/net/ipv4/ip_local_port_range"));
    unsigned lo = 0, hi = 0;
    if (!(range >> lo >> hi))
        throw std::runtime_error("cannot read net.ipv4.ip_local_port_range");
    p.lo = static_cast<uint16_t>(lo);
    p.hi = static_cast<uint16_t>(hi);
    try {
        p.reserved = read_reserved_ports_here();
    } catch (const std::exception&) {
        // unreadable: taken as empty, so every listener in range is shown
    }
    return p;
}

}  // namespace

PortPolicy read_port_policy(int netns_fd)
{
    PortPolicy p;
    run_in_netns(netns_fd, [&] { p = read_port_policy_here(); });
    return p;
}

RiskScanner::RiskScanner(PortOrigin origin, ReservedListeners reserved)
    : origin_(std::move(origin)), reserved_(reserved)
{
}

const std::unordered_map<uint32_t, uint32_t>& RiskScanner::owner_pids() const
{
    // Read at the first finding: a walk of every descriptor of every
    // process (18,000 sockets on a busy node), which a host with nothing
    // at risk, the usual one, need not pay.
    std::call_once(owners_read_, [this] { owner_pids_ = socket_owner_pids(); });
    return owner_pids_;
}

Record RiskScanner::record_of(RecordType type, const TcpSocket& s, uint32_t netns, const PortPolicy& policy) const
{
    Record r;
    r.facts = facts_of(type);
    r.time = std::chrono::system_clock::now();
    r.netns = netns;
    r.family = s.family;
    r.addr = format_address(s.family, std::span<const uint8_t, 16>(s.src.data(), 16));
    r.v4_mapped = s.family == AF_INET6 && r.addr.rfind("::ffff:", 0) == 0;
    r.port = s.sport;
    r.range_lo = policy.lo;
    r.range_hi = policy.hi;
    r.reserved = policy.reserved.test(s.sport);
    r.socket_inode = s.inode;
    if (type == RecordType::SelfConnect)
        r.bound_ifindex = s.bound_ifindex;
    if (auto it = owner_pids().find(s.inode); s.inode && it != owner_pids().end()) {
        r.owner.known = true;
        r.owner.pid = it->second;
        r.owner.tid = it->second;
        r.owner.comm = process_name(it->second);
        r.owner.uid = s.uid;
    }
    return r;
}

NamespaceRisks RiskScanner::scan(uint32_t netns, const NetnsHandle& ns, const TcpCensus* census) const
{
    NamespaceRisks risks;
    risks.netns = netns;
    // The namespace is entered once for all (a thread made, a setns()):
    // entering it twice cost an audit of 300 namespaces about a tenth of its time.
    std::optional<SockDiag> diag;
    run_in_netns(ns.fd.get(), [&] {
        risks.policy = read_port_policy_here();
        diag.emplace();  // made here, the socket answers for this namespace
        risks.listeners_only = census && census_rules_out_self_connects(*census, hashed_tcp_sockets_here());
    });
    const PortPolicy& policy = risks.policy;
    risks.reserve = policy.reserved;
    const uint32_t states =
        risks.listeners_only ? tcp_state_bit(kTcpListen) : kConnectedStates | tcp_state_bit(kTcpListen);
    for (const TcpSocket& s : diag->list(states)) {
        const bool in_range = s.sport >= policy.lo && s.sport <= policy.hi;
        if (s.state == kTcpListen) {
            if (!in_range || (policy.reserved.test(s.sport) && reserved_ == ReservedListeners::Skip))
                continue;
            risks.findings.push_back({record_of(RecordType::ListenerAtRisk, s, netns, policy), s});
        } else if (is_self_connected(s)) {
            risks.findings.push_back({record_of(RecordType::SelfConnect, s, netns, policy), s});
            if (in_range)
                risks.reserve.set(s.sport);
        }
    }
    // Who chose each listener's port is asked after the dumps: a listener
    // that started in between is then in both, never in the dump alone
    // (where it would look like a port to reserve).
    // A listener of the dump that the iterator no longer found has closed
    // in between: it is at risk no more, and its port (maybe the kernel's
    // choice, never to be known) is left alone.
    // Asked only where there is a listener to ask about: the iterator walks
    // the kernel's whole socket table, as a dump does.
    const bool listeners_found = std::any_of(risks.findings.begin(), risks.findings.end(), [](const Finding& f) {
        return f.record.type() == RecordType::ListenerAtRisk && !f.record.reserved;
    });
    const auto origins = origin_ && listeners_found ? origin_(ns.fd.get()) : std::nullopt;
    std::vector<Finding> still_there;
    for (Finding& f : risks.findings) {
        if (f.record.type() == RecordType::ListenerAtRisk && origins) {
            auto it = origins->find(f.socket.inode);
            if (it == origins->end() && !f.record.reserved)
                continue;
            if (it != origins->end())  // a reserved one, asked for no walk of its own
                f.record.as<ListenerAtRiskFacts>().port_chosen_by_kernel = it->second;
        }
        if (f.record.type() == RecordType::ListenerAtRisk && !f.record.reserved && port_worth_reserving(f.record))
            risks.reserve.set(f.record.port);
        still_there.push_back(std::move(f));
    }
    risks.findings = std::move(still_there);
    if (risks.needs_fix())
        for (Finding& f : risks.findings)
            if (!f.record.reserved && port_worth_reserving(f.record))
                if (auto* fix = fix_line(f.record))
                    *fix = fix_command(risks.reserve, netns, ns.path);
    return risks;
}

ScanResult scan_now(const std::vector<uint32_t>& only_netns, PortOrigin origin, const CensusSource& census,
                    bool tell_empty)
{
    ScanResult found;
    RiskScanner scanner(std::move(origin), RiskScanner::ReservedListeners::Include);
    // Entering another namespace needs CAP_SYS_ADMIN: without it (a
    // hardened unit) only the watcher's own is scanned.
    const bool may_enter = may_administer_system();
    std::map<uint32_t, NetnsHandle> namespaces = list_network_namespaces();
    std::set<uint32_t> listed;
    for (const auto& entry : namespaces)
        listed.insert(entry.first);
    std::erase_if(namespaces, [&](const auto& entry) {
        return !netns_selected(only_netns, entry.first) || (!may_enter && entry.first != current_netns_inode());
    });
    // Which namespaces may still hold listeners, for those known of
    // before (ScanResult::holds_no_socket): the census walks every socket,
    // so one absent from it holds none, whether it ended or its sockets
    // closed. Without a census, with CAP_SYS_ADMIN, those listed (one no
    // process is in and no mount names can still hold sockets, unlisted:
    // a process that made them there and left).
    found.selection = only_netns;
    if (may_enter)
        found.holding = listed;
    bool census_noted = false;
    const auto note_census = [&](const std::optional<TcpCensusByNetns>& taken) {
        if (!taken || census_noted)
            return;
        census_noted = true;
        found.holding.emplace();
        for (const auto& [netns, counts] : *taken)
            if (counts.held > 0)
                found.holding->insert(netns);
    };
    const CensusSource noting_census = !census ? census : CensusSource([&]() {
        auto taken = census();
        note_census(taken);
        return taken;
    });
    // On as many threads as audit's: a host of 300 namespaces kept the
    // watcher from ready for a second on one.
    for (NamespaceScan& scan : scan_namespaces(scanner, namespaces, {}, noting_census)) {
        if (!scan.risks) {
            // Its handle keeps the namespace: what failed is the reading
            // (no sock_diag for TCP, a refused setns()), and the caller says so.
            found.unread.push_back({scan.inode, scan.error});
            continue;
        }
        for (Finding& f : scan.risks->findings)
            found.records.push_back(std::move(f.record));
        found.namespaces.push_back(scan.inode);
    }
    if (tell_empty && census && !census_noted)
        note_census(census());  // one namespace read: the scan took none
    return found;
}

}  // namespace selfconnect
