#include "host/tcp_census.h"

#include <fstream>
#include <sstream>
#include <string>

namespace selfconnect {

namespace {

// "PROTO: inuse N ..." of one sockstat file; nothing if the file or the
// line cannot be read.
std::optional<uint64_t> inuse_of(const char* path, const std::string& proto, bool absent_is_zero)
{
    std::ifstream in(path);
    if (!in)
        return absent_is_zero ? std::optional<uint64_t>(0) : std::nullopt;
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string name, key;
        uint64_t n = 0;
        if (words >> name >> key >> n && name == proto + ":" && key == "inuse")
            return n;
    }
    return std::nullopt;
}

}  // namespace

std::optional<uint64_t> hashed_tcp_sockets_here()
{
    // thread-self: /proc/self/net answers for the process leader's
    // namespace, not the one this thread entered.
    const auto v4 = inuse_of("/proc/thread-self/net/sockstat", "TCP", false);
    const auto v6 = inuse_of("/proc/thread-self/net/sockstat6", "TCP6", true);
    if (!v4 || !v6)
        return std::nullopt;
    return *v4 + *v6;
}

bool census_rules_out_self_connects(const TcpCensus& census, std::optional<uint64_t> kernel_count)
{
    return kernel_count && *kernel_count == census.held && !census.same_ends_seen;
}

}  // namespace selfconnect
