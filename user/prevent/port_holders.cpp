#include "prevent/port_holders.h"

#include "host/tcp_states.h"

namespace selfconnect {

namespace {

bool is_wildcard(const std::string& addr)
{
    return addr == "0.0.0.0" || addr == "::";
}

// Would a server bound to `want` clash with a socket bound to `have`?
// Wildcards clash with everything; v4-mapped IPv6 compares as IPv4.
bool addresses_overlap(const std::string& want, const std::string& have)
{
    const auto plain = [](const std::string& a) { return a.rfind("::ffff:", 0) == 0 ? a.substr(7) : a; };
    return is_wildcard(want) || is_wildcard(have) || plain(want) == plain(have);
}

}  // namespace

// Not by family: an IPv6 wildcard also takes the IPv4 port on a dual-stack host.
std::optional<HeldSocket> blocking_holder(const std::vector<HeldSocket>& held, const std::string& addr)
{
    // A listener there is the ordinary "another server runs here": the
    // connections it accepted share its port and are no culprits either.
    for (const HeldSocket& s : held)
        if (s.state == kTcpListen && addresses_overlap(addr, s.local_addr))
            return std::nullopt;
    const HeldSocket* best = nullptr;
    for (const HeldSocket& s : held) {
        // A closed socket bound to the port has no peer to name.
        if (s.state == kTcpClose || !addresses_overlap(addr, s.local_addr))
            continue;
        if (!best || (s.self_connected && !best->self_connected))
            best = &s;
    }
    if (!best)
        return std::nullopt;
    return *best;
}

}  // namespace selfconnect
