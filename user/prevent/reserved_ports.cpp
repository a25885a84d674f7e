#include "prevent/reserved_ports.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "host/capabilities.h"
#include "host/netns.h"

namespace selfconnect {

namespace {

constexpr const char* kReservedPorts = "/proc/sys/net/ipv4/ip_local_reserved_ports";

// Every port reserved, written the longest way ("0,2,4,...,65534"), fits.
constexpr size_t kLongestList = 32768 * 6 + 2;

std::string sysctl_command(const PortSet& list)
{
    return "sysctl -w net.ipv4.ip_local_reserved_ports=" + format_port_list(list);
}

std::runtime_error failure(const char* what)
{
    return std::runtime_error(std::string(what) + " " + kReservedPorts + ": " + strerror(errno));
}

// Adds the ports of `text` (kernel syntax, newline-terminated) to the
// list: every write at a non-zero offset, so the kernel ORs, never replaces.
void add_to_list(const std::string& text)
{
    UniqueFd fd(open(kReservedPorts, O_WRONLY | O_CLOEXEC));
    if (!fd)
        throw failure("cannot open");
    for (size_t done = 0; done < text.size();) {
        const ssize_t n = pwrite(fd.get(), text.data() + done, text.size() - done, static_cast<off_t>(1 + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw failure("cannot write");
        done += static_cast<size_t>(n);
    }
}

}  // namespace

PortSet read_reserved_ports_here()
{
    UniqueFd fd(open(kReservedPorts, O_RDONLY | O_CLOEXEC));
    if (!fd)
        throw failure("cannot read");
    std::string text(kLongestList + 1, '\0');
    ssize_t n;
    while ((n = read(fd.get(), text.data(), text.size())) < 0 && errno == EINTR) {
    }
    if (n < 0)
        throw failure("cannot read");
    text.resize(static_cast<size_t>(n));
    // The kernel ends a whole list with a newline; without it, it was cut.
    if (text.empty() || text.back() != '\n')
        throw std::runtime_error(std::string("cannot read ") + kReservedPorts + " whole");
    text.pop_back();
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

ReserveResult reserve_ports_here(const PortSet& ports)
{
    ReserveResult result;
    PortSet now = read_reserved_ports_here();
    // Read back after each write: another writer that replaced the list in
    // between (sysctl -w) is met by writing again.
    for (int attempt = 0; attempt < 3 && (now | ports) != now; ++attempt) {
        add_to_list(format_port_list(ports & ~now) + "\n");
        result.changed = true;
        now = read_reserved_ports_here();
    }
    if ((now | ports) != now)
        throw std::runtime_error(std::string("the ports did not stay in ") + kReservedPorts +
                                 ": another writer keeps replacing the list");
    result.list = format_port_list(now);
    return result;
}

ReserveResult reserve_ports(int netns_fd, const PortSet& ports)
{
    ReserveResult result;
    try {
        run_in_netns(netns_fd, [&] { result = reserve_ports_here(ports); });
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

std::optional<PortSet> readable_reserved_ports(const Record& listener)
{
    const bool here = listener.netns == current_netns_inode();
    // Another namespace is entered only with the capability to do so.
    UniqueFd fd = here || may_administer_system() ? open_netns(listener.netns, listener.owner.pid) : UniqueFd();
    return fd ? read_reserved_ports(fd.get()) : std::nullopt;
}

std::string live_fix_command(const Record& listener, const std::optional<PortSet>& list)
{
    if (!list)
        return "selfconnect audit --fix --netns " + std::to_string(listener.netns);
    return fix_command(with_listener_port(listener, list), listener.netns,
                       "/proc/" + std::to_string(listener.owner.pid) + "/ns/net");
}

std::string live_fix_command(const Record& listener)
{
    return live_fix_command(listener, readable_reserved_ports(listener));
}

std::string persistent_sysctl_line(const std::string& list)
{
    return "net.ipv4.ip_local_reserved_ports = " + list;
}

std::string pod_spec_sysctl(const PortSet& list)
{
    return "securityContext: {sysctls: [{name: net.ipv4.ip_local_reserved_ports, value: \"" + format_port_list(list) +
           "\"}]}";
}

PortSet with_listener_port(const Record& listener, const std::optional<PortSet>& list)
{
    PortSet merged = list.value_or(PortSet{});
    merged.set(listener.port);
    return merged;
}

Record port_reserved_record(uint32_t netns, uint16_t port, ReserveReason reason)
{
    Record r;
    PortReservedFacts reserved;
    reserved.reason = reason;
    r.facts = reserved;
    r.time = std::chrono::system_clock::now();
    r.netns = netns;
    r.port = port;
    return r;
}

Record port_reserved_record(uint32_t netns, uint16_t port, ReserveReason reason, const ReserveResult& result)
{
    Record r = port_reserved_record(netns, port, reason);
    PortReservedFacts& reserved = r.as<PortReservedFacts>();
    reserved.reserved_ports = result.list;
    reserved.error = result.error;
    if (!result.error && netns == current_netns_inode())
        reserved.persist = persistent_sysctl_line(result.list);
    return r;
}

}  // namespace selfconnect
