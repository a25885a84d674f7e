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
    // Before any namespace is read: a socket that opens or closes in
    // between makes its namespace's counts differ.
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
    return scans;
}

}  // namespace selfconnect
