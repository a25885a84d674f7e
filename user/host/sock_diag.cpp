#include "host/sock_diag.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "host/netns.h"

namespace selfconnect {

namespace {

struct DiagRequest {
    nlmsghdr header;
    inet_diag_req_v2 body;
};

// The older request (TCPDIAG_GETSOCK), which the kernel still answers for
// TCP, and for both families in one dump: the v2 request names one family.
struct BothFamiliesRequest {
    nlmsghdr header;
    inet_diag_req body;
};

DiagRequest make_request(uint16_t type, uint16_t flags, uint16_t family, uint32_t states)
{
    DiagRequest r{};
    r.header.nlmsg_len = sizeof(r);
    r.header.nlmsg_type = type;
    r.header.nlmsg_flags = flags;
    r.body.sdiag_family = static_cast<uint8_t>(family);
    r.body.sdiag_protocol = IPPROTO_TCP;
    r.body.idiag_states = states;
    return r;
}

template <typename Request>
void send_request(int fd, const Request& r)
{
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd, &r, sizeof(r), 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel)) < 0)
        throw std::runtime_error(std::string("sock_diag: ") + strerror(errno));
}

void send_dump_request(int fd, uint16_t family, uint32_t states)
{
    if (family != AF_UNSPEC) {
        send_request(fd, make_request(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, family, states));
        return;
    }
    BothFamiliesRequest r{};
    r.header.nlmsg_len = sizeof(r);
    r.header.nlmsg_type = TCPDIAG_GETSOCK;
    r.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    r.body.idiag_states = states;
    send_request(fd, r);
}

// The kernel has no handler for the older request (a sock_diag without
// inet_diag's, or one that dropped it).
class NoBothFamiliesDump : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace

SockDiag::SockDiag(int netns_fd)
{
    // errno is per thread: kept from the one that made the socket.
    int error = 0;
    const auto open_here = [&] {
        fd_.reset(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
        error = errno;
    };
    // The current namespace needs no thread of its own, which a caller
    // already inside one (run_in_netns) would pay for again.
    if (netns_fd < 0)
        open_here();
    else
        run_in_netns(netns_fd, open_here);
    if (!fd_)
        throw std::runtime_error(std::string("cannot open a sock_diag socket: ") + strerror(error));
}

// One dump walks the kernel's whole table of connected TCP sockets, which
// is one for every namespace and both families (262,144 buckets on a host
// with 24 GB), whatever the namespace holds: a dump per family walked it
// twice in each namespace, and on a host of 300 namespaces the walks were
// most of an audit.
std::vector<TcpSocket> SockDiag::list(uint32_t state_mask)
{
    std::vector<TcpSocket> both;
    try {
        both = dump(AF_UNSPEC, state_mask);
    } catch (const NoBothFamiliesDump&) {
        std::vector<TcpSocket> v4 = dump(AF_INET, state_mask);
        std::vector<TcpSocket> v6 = dump(AF_INET6, state_mask);
        v4.insert(v4.end(), v6.begin(), v6.end());
        return v4;
    }
    // The kernel's order within each family is kept: the same as a dump of
    // that family alone.
    std::stable_partition(both.begin(), both.end(), [](const TcpSocket& s) { return s.family == AF_INET; });
    return both;
}

std::vector<TcpSocket> SockDiag::dump(uint16_t family, uint32_t state_mask)
{
    send_dump_request(fd_.get(), family, state_mask);
    std::vector<TcpSocket> out;
    alignas(nlmsghdr) char buf[32768];
    for (;;) {
        const ssize_t n = recv(fd_.get(), buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw std::runtime_error(std::string("sock_diag: ") + strerror(errno));
        }
        int len = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type == NLMSG_DONE)
                return out;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
                if (family == AF_UNSPEC && e->error == -EOPNOTSUPP)
                    throw NoBothFamiliesDump("sock_diag: no TCPDIAG_GETSOCK");
                // ENOENT: no handler for TCP, which the tcp_diag module
                // provides (loaded on demand, unless module loading is off).
                throw std::runtime_error(std::string("sock_diag: ") + strerror(-e->error) +
                                         (e->error == -ENOENT ? " (the kernel has no tcp_diag loaded)" : ""));
            }
            const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
            TcpSocket s;
            s.family = m->idiag_family;
            s.state = m->idiag_state;
            std::memcpy(s.src.data(), m->id.idiag_src, 16);
            std::memcpy(s.dst.data(), m->id.idiag_dst, 16);
            s.sport = ntohs(m->id.idiag_sport);
            s.dport = ntohs(m->id.idiag_dport);
            s.uid = m->idiag_uid;
            s.inode = m->idiag_inode;
            s.bound_ifindex = m->id.idiag_if;
            s.cookie = static_cast<uint64_t>(m->id.idiag_cookie[0]) |
                       (static_cast<uint64_t>(m->id.idiag_cookie[1]) << 32);
            out.push_back(s);
        }
    }
}

int SockDiag::destroy(const TcpSocket& s)
{
    DiagRequest r = make_request(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, s.family, ~0U);
    r.body.id.idiag_sport = htons(s.sport);
    r.body.id.idiag_dport = htons(s.dport);
    std::memcpy(r.body.id.idiag_src, s.src.data(), 16);
    std::memcpy(r.body.id.idiag_dst, s.dst.data(), 16);
    // The kernel finds a socket bound to a device only when asked with it.
    r.body.id.idiag_if = s.bound_ifindex;
    r.body.id.idiag_cookie[0] = s.cookie ? static_cast<uint32_t>(s.cookie) : INET_DIAG_NOCOOKIE;
    r.body.id.idiag_cookie[1] = s.cookie ? static_cast<uint32_t>(s.cookie >> 32) : INET_DIAG_NOCOOKIE;
    send_request(fd_.get(), r);
    alignas(nlmsghdr) char buf[4096];
    for (;;) {
        const ssize_t n = recv(fd_.get(), buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        int len = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len))
            if (h->nlmsg_type == NLMSG_ERROR)
                return -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
    }
}

}  // namespace selfconnect
