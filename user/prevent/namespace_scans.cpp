#include "prevent/namespace_scans.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <system_error>
#include <thread>

namespace selfconnect {

namespace {

void scan_one(const RiskScanner& scanner, NamespaceScan& scan, const std::optional<TcpCensusByNetns>& census)
{
    try {
        scan.risks = scanner.scan(scan.inode, *scan.ns, census_of(census, scan.inode));
    } catch (const std::exception& e) {
        // Its handle keeps the namespace: the reading failed (no sock_diag
        // for TCP, a refused setns()).
        scan.error = e.what();
    }
}

bool same_census(const TcpCensus& a, const TcpCensus& b)
{
    return a.held == b.held && a.same_ends_seen == b.same_ends_seen && a.mptcp_seen == b.mptcp_seen;
}

// The counts of each namespace were read after the census: a socket that
// closed in between and one no descriptor holds can make them agree by
// chance. A second census after them catches the close that stayed
// closed (and the open that stayed open): a namespace read for its
// listeners whose census is not the same again is read whole.
void walk_again_where_the_census_changed(const RiskScanner& scanner, std::vector<NamespaceScan>& scans,
                                         const TcpCensusByNetns& before,
                                         const std::optional<TcpCensusByNetns>& after)
{
    for (NamespaceScan& scan : scans) {
        if (!scan.risks || !scan.risks->listeners_only)
            continue;
        if (after && same_census(census_of(before, scan.inode), census_of(*after, scan.inode)))
            continue;
        scan.risks.reset();  // read whole, or said unread
        scan_one(scanner, scan, std::nullopt);
    }
}

}  // namespace

// A scan is mostly the kernel's: its sock_diag dump walks the table of every
// TCP socket of the host, whatever the namespace holds, so on a host of
// many namespaces one core spent most of an audit on walks that another
// core could have made at the same time. The scans share nothing. (Where
// the census rules out a self-connect, the walk is not made at all.)
std::vector<NamespaceScan> scan_namespaces(const RiskScanner& scanner,
                                           const std::map<uint32_t, NetnsHandle>& namespaces,
                                           const std::vector<uint32_t>& only, const CensusSource& census)
{
    std::vector<NamespaceScan> scans;
    for (const auto& [inode, ns] : namespaces)
        if (netns_selected(only, inode))
            scans.push_back({inode, &ns, std::nullopt, {}});
    // Taken before any namespace is read, and again after (see
    // walk_again_where_the_census_changed).
    const std::optional<TcpCensusByNetns> counted = census && scans.size() > 1 ? census() : std::nullopt;

    std::atomic<size_t> next{0};
    const auto work = [&] {
        for (size_t i = next++; i < scans.size(); i = next++)
            scan_one(scanner, scans[i], counted);
    };
    // As many as the CPUs this process may run on, and no more than
    // kMaxScanThreads: each scan walks the kernel's whole TCP table, taking
    // each bucket's lock in turn, which a node of 256 cores should not
    // see 256 times over at once.
    constexpr size_t kMaxScanThreads = 8;
    cpu_set_t allowed{};
    const size_t cpus = sched_getaffinity(0, sizeof(allowed), &allowed) == 0
                            ? static_cast<size_t>(CPU_COUNT(&allowed))
                            : std::max(1U, std::thread::hardware_concurrency());
    const size_t threads = std::min({std::max<size_t>(1, cpus), kMaxScanThreads, scans.size()});
    std::vector<std::thread> helpers;
    try {
        for (size_t t = 1; t < threads; ++t)
            helpers.emplace_back(work);
    } catch (const std::system_error&) {
        // No thread more (a pids limit, say): those made and this one
        // share the namespaces all the same.
    }
    work();  // this thread is one of them
    for (std::thread& h : helpers)
        h.join();
    if (counted)
        walk_again_where_the_census_changed(scanner, scans, *counted, census());
    return scans;
}

}  // namespace selfconnect
