#include "host/tcp_census.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace selfconnect {

namespace {

// "PROTO: inuse N ..." of one sockstat file; nothing if the file or the
// line cannot be read. A file that does not exist (sockstat6 without
// IPv6) counts none only where `absent_is_zero`; any other failure to open
// it (out of descriptors, say) counts nothing, never 0.
std::optional<uint64_t> inuse_of(const char* path, const char* proto, bool absent_is_zero)
{
    std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(path, "re"), &std::fclose);
    if (!in)
        return errno == ENOENT && absent_is_zero ? std::optional<uint64_t>(0) : std::nullopt;
    char line[256];
    while (std::fgets(line, sizeof(line), in.get())) {
        char name[32];
        unsigned long long n = 0;
        if (std::sscanf(line, "%31s inuse %llu", name, &n) == 2 && std::strcmp(name, proto) == 0)
            return n;
    }
    return std::nullopt;
}

}  // namespace

const TcpCensus& census_of(const TcpCensusByNetns& census, uint32_t netns)
{
    static const TcpCensus kNoneHeld;
    const auto it = census.find(netns);
    return it != census.end() ? it->second : kNoneHeld;
}

const TcpCensus* census_of(const std::optional<TcpCensusByNetns>& census, uint32_t netns)
{
    return census ? &census_of(*census, netns) : nullptr;
}

std::optional<uint64_t> hashed_tcp_sockets_here()
{
    // thread-self: /proc/self/net answers for the process leader's
    // namespace, not the one this thread entered.
    const auto v4 = inuse_of("/proc/thread-self/net/sockstat", "TCP:", false);
    const auto v6 = inuse_of("/proc/thread-self/net/sockstat6", "TCP6:", true);
    if (!v4 || !v6)
        return std::nullopt;
    return *v4 + *v6;
}

bool census_rules_out_self_connects(const TcpCensus& census, std::optional<uint64_t> kernel_count)
{
    return kernel_count && *kernel_count == census.held && !census.same_ends_seen && !census.mptcp_seen;
}

}  // namespace selfconnect
