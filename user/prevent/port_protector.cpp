#include "prevent/port_protector.h"

#include "host/netns.h"
#include "prevent/reserved_ports.h"

namespace selfconnect {

PortProtector::PortProtector(uint32_t max_per_netns, std::vector<uint32_t> only_netns)
    : max_(max_per_netns), only_(std::move(only_netns))
{
}

namespace {

// The namespace, where there is no cookie: marked so that it never meets one.
uint64_t key_of(const UniqueFd& fd, uint32_t netns)
{
    return (fd ? netns_cookie(fd.get()) : std::nullopt).value_or((1ULL << 63) | netns);
}

}  // namespace

void PortProtector::forget_unless_reserved(uint32_t netns, const PortSet& reserved)
{
    auto it = done_.find(key_of(open_netns(netns), netns));
    if (it == done_.end())
        return;
    for (auto port = it->second.begin(); port != it->second.end();)
        port = reserved.test(*port) ? std::next(port) : it->second.erase(port);
}

std::optional<Record> PortProtector::protect(uint32_t netns, uint16_t port, uint32_t pid, ReserveReason reason)
{
    if (!netns_selected(only_, netns))
        return std::nullopt;
    UniqueFd fd = open_netns(netns, pid);
    const uint64_t key = key_of(fd, netns);
    auto& done = done_[key];
    if (done.count(port))
        return std::nullopt;
    if (done.size() >= max_) {
        if (!capped_.insert(key).second)
            return std::nullopt;  // said once per namespace
        Record r = port_reserved_record(netns, port, reason);
        r.as<PortReservedFacts>().error = "--protect-max " + std::to_string(max_) +
                  " reached in this namespace: no more ports are reserved here";
        return r;
    }
    done.insert(port);
    if (!fd) {
        Record r = port_reserved_record(netns, port, reason);
        r.as<PortReservedFacts>().error = "cannot reach network namespace " + std::to_string(netns) + ": it is gone or cannot be opened";
        return r;
    }
    PortSet ports;
    ports.set(port);
    const ReserveResult result = reserve_ports(fd.get(), ports);
    if (!result.error && !result.changed)
        return std::nullopt;  // someone reserved it already
    return port_reserved_record(netns, port, reason, result);
}

}  // namespace selfconnect
