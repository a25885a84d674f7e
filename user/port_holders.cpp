#include "port_holders.h"

#include <unistd.h>

#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>

#include "detector.h"
#include "text_format.h"
#include "unique_fd.h"

namespace selfconnect {

namespace {

constexpr int kTcpListen = 10;
constexpr int kTcpClose = 7;

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

bool PortHolderFinder::available() const { return detector_.holder_iterator_link_fd() >= 0; }

std::vector<HeldPort> PortHolderFinder::find(uint32_t netns, uint16_t port)
{
    std::vector<HeldPort> found;
    if (!available())
        return found;
    detector_.ask_holders_of(netns, port);
    UniqueFd iter(bpf_iter_create(detector_.holder_iterator_link_fd()));
    if (!iter)
        return found;
    // Read in large chunks and cut into records: reading one record's size
    // at a time gave one record of many and then nothing on Linux 6.1 (a
    // debug build in the kernel-matrix VM).
    std::string bytes;
    std::vector<char> chunk(64 * 1024);
    for (ssize_t n; (n = read(iter.get(), chunk.data(), chunk.size())) > 0;)
        bytes.append(chunk.data(), static_cast<size_t>(n));
    std::vector<uint64_t> seen;
    for (size_t at = 0; at + sizeof(sc_holder) <= bytes.size(); at += sizeof(sc_holder)) {
        sc_holder h;
        std::memcpy(&h, bytes.data() + at, sizeof(h));
        // A socket shared by several processes (after fork) is one holder.
        if (std::find(seen.begin(), seen.end(), h.inode) != seen.end())
            continue;
        seen.push_back(h.inode);
        HeldPort p;
        p.state = h.state;
        p.local_addr = format_address(h.family, std::span<const uint8_t, 16>(h.saddr, 16));
        p.holder.pid = h.tgid;
        p.holder.uid = h.uid;
        p.holder.comm.assign(h.comm, strnlen(h.comm, sizeof(h.comm)));
        p.holder.addr = format_address(h.family, std::span<const uint8_t, 16>(h.daddr, 16));
        p.holder.port = h.dport;
        p.holder.self_connected = h.dport == h.sport && p.holder.addr == p.local_addr;
        found.push_back(std::move(p));
    }
    return found;
}

// Not by family: an IPv6 wildcard also takes the IPv4 port on a dual-stack host.
std::optional<PortHolder> blocking_holder(const std::vector<HeldPort>& held, const std::string& addr)
{
    const HeldPort* best = nullptr;
    for (const HeldPort& p : held) {
        // Listeners are the ordinary "another server runs here"; a closed
        // socket bound to the port has no peer to name.
        if (p.state == kTcpListen || p.state == kTcpClose || !addresses_overlap(addr, p.local_addr))
            continue;
        if (!best || (p.holder.self_connected && !best->holder.self_connected))
            best = &p;
    }
    if (!best)
        return std::nullopt;
    return best->holder;
}

}  // namespace selfconnect
