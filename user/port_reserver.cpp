#include "port_reserver.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "netns.h"

namespace selfconnect {

namespace {

constexpr const char* kReservedPorts = "/proc/sys/net/ipv4/ip_local_reserved_ports";

// Runs on a thread inside the namespace: /proc/sys/net answers for the
// namespace of the thread that opens it.
PortSet read_list_here()
{
    std::ifstream in(kReservedPorts);
    if (!in)
        throw std::runtime_error(std::string("cannot read ") + kReservedPorts);
    std::string text;
    std::getline(in, text);  // an empty list is an empty line
    auto current = parse_port_list(text);
    if (!current)
        throw std::runtime_error("cannot parse " + std::string(kReservedPorts) + ": '" + text + "'");
    return *current;
}

}  // namespace

std::optional<PortSet> read_reserved_ports(int netns_fd)
{
    std::optional<PortSet> list;
    try {
        run_in_netns(netns_fd, [&] { list = read_list_here(); });
    } catch (const std::exception&) {
    }
    return list;
}

ReserveResult reserve_ports(int netns_fd, const PortSet& ports)
{
    ReserveResult result;
    try {
        run_in_netns(netns_fd, [&] {
            const PortSet current = read_list_here();
            const PortSet merged = current | ports;
            result.list = format_port_list(merged);
            if (merged == current)
                return;
            std::ofstream out(kReservedPorts);
            out << result.list << '\n';
            out.flush();
            if (!out)
                throw std::runtime_error(std::string("cannot write ") + kReservedPorts + ": " + strerror(errno));
            result.changed = true;
        });
    } catch (const std::exception& e) {
        result.error = e.what();
    }
    return result;
}

std::string persistent_sysctl_line(const std::string& list)
{
    return "net.ipv4.ip_local_reserved_ports = " + list;
}

PortProtector::PortProtector(uint32_t max_per_netns, std::vector<uint32_t> only_netns)
    : max_(max_per_netns), only_(std::move(only_netns))
{
}

std::optional<Record> PortProtector::protect(uint32_t netns, uint16_t port, uint32_t pid, const std::string& reason)
{
    if (!only_.empty() && std::find(only_.begin(), only_.end(), netns) == only_.end())
        return std::nullopt;
    auto& done = done_[netns];
    if (done.count(port))
        return std::nullopt;
    Record r;
    r.type = RecordType::PortReserved;
    r.time = std::chrono::system_clock::now();
    r.netns = netns;
    r.port = port;
    r.reason = reason;
    if (done.size() >= max_) {
        if (!capped_.insert(netns).second)
            return std::nullopt;  // said once per namespace
        r.error = "--protect-max " + std::to_string(max_) +
                  " reached in this namespace: no more ports are reserved here";
        return r;
    }
    done.insert(port);
    UniqueFd fd = open_netns(netns, pid);
    if (!fd) {
        r.error = "cannot reach network namespace " + std::to_string(netns) + ": it is gone or cannot be opened";
        return r;
    }
    PortSet ports;
    ports.set(port);
    ReserveResult result = reserve_ports(fd.get(), ports);
    r.reserved_ports = result.list;
    if (result.error) {
        r.error = *result.error;
        return r;
    }
    if (!result.changed)
        return std::nullopt;  // someone reserved it already
    if (netns == current_netns_inode())
        r.persist = persistent_sysctl_line(result.list);
    return r;
}

}  // namespace selfconnect
