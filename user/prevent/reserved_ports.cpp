#include "prevent/reserved_ports.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "host/capabilities.h"
#include "host/netns.h"

namespace selfconnect {

namespace {

constexpr const char* kReservedPorts = "/proc/sys/net/ipv4/ip_local_reserved_ports";

std::string sysctl_command(const PortSet& list)
{
    return "sysctl -w net.ipv4.ip_local_reserved_ports=" + format_port_list(list);
}

}  // namespace

// /proc/sys/net answers for the namespace of the thread that opens it.
PortSet read_reserved_ports_here()
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

std::optional<PortSet> read_reserved_ports(int netns_fd)
{
    std::optional<PortSet> list;
    try {
        run_in_netns(netns_fd, [&] { list = read_reserved_ports_here(); });
    } catch (const std::exception&) {
    }
    return list;
}

ReserveResult reserve_ports(int netns_fd, const PortSet& ports)
{
    ReserveResult result;
    try {
        run_in_netns(netns_fd, [&] {
            const PortSet current = read_reserved_ports_here();
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

std::string fix_command(const PortSet& list, uint32_t netns, const std::string& netns_path)
{
    const std::string cmd = sysctl_command(list);
    if (netns == current_netns_inode())
        return cmd;
    if (netns_path.rfind("/run/netns/", 0) == 0)
        return "ip netns exec " + netns_path.substr(11) + " " + cmd;
    return "nsenter --net=" + netns_path + " " + cmd;
}

std::string live_fix_command(const Record& listener)
{
    const bool here = listener.netns == current_netns_inode();
    // Another namespace is entered only with the capability to do so.
    UniqueFd fd = here || may_administer_system() ? open_netns(listener.netns, listener.owner.pid) : UniqueFd();
    if (fd) {
        if (auto list = read_reserved_ports(fd.get())) {
            list->set(listener.port);
            return fix_command(*list, listener.netns, "/proc/" + std::to_string(listener.owner.pid) + "/ns/net");
        }
    }
    return "selfconnect audit --fix --netns " + std::to_string(listener.netns);
}

std::string persistent_sysctl_line(const std::string& list)
{
    return "net.ipv4.ip_local_reserved_ports = " + list;
}

Record port_reserved_record(uint32_t netns, uint16_t port, ReserveReason reason)
{
    Record r;
    r.type = RecordType::PortReserved;
    r.time = std::chrono::system_clock::now();
    r.netns = netns;
    r.port = port;
    r.reason = reason;
    return r;
}

Record port_reserved_record(uint32_t netns, uint16_t port, ReserveReason reason, const ReserveResult& result)
{
    Record r = port_reserved_record(netns, port, reason);
    r.reserved_ports = result.list;
    r.error = result.error;
    if (!result.error && netns == current_netns_inode())
        r.persist = persistent_sysctl_line(result.list);
    return r;
}

}  // namespace selfconnect
