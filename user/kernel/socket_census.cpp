#include "kernel/socket_census.h"

#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstring>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "events.h"
#include "host/unique_fd.h"
#include "kernel/kernel_features.h"
#include "socket_census.skel.h"

namespace selfconnect {

namespace {

struct SkeletonDeleter {
    void operator()(socket_census_bpf* s) const { socket_census_bpf__destroy(s); }
};
struct LinkDeleter {
    void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};

int quiet(enum libbpf_print_level, const char*, va_list) { return 0; }

}  // namespace

std::optional<TcpCensusByNetns> take_tcp_census()
{
    // Asked first: without the helper the load fails, and libbpf would say
    // so at length.
    if (!kernel_btf_has_name("BPF_FUNC_sock_from_file"))
        return std::nullopt;
    // A census that cannot be taken costs only time; libbpf's account of
    // why is not the audit's to print.
    const auto previous = libbpf_set_print(quiet);
    std::unique_ptr<socket_census_bpf, SkeletonDeleter> skel(socket_census_bpf__open_and_load());
    std::unique_ptr<bpf_link, LinkDeleter> link(skel ? bpf_program__attach_iter(skel->progs.socket_census, nullptr)
                                                     : nullptr);
    libbpf_set_print(previous);
    if (!link)
        return std::nullopt;
    UniqueFd iter(bpf_iter_create(bpf_link__fd(link.get())));
    if (!iter)
        return std::nullopt;
    std::string bytes;
    std::vector<char> chunk(64 * 1024);
    ssize_t n;
    while ((n = read(iter.get(), chunk.data(), chunk.size())) > 0)
        bytes.append(chunk.data(), static_cast<size_t>(n));
    if (n < 0)
        return std::nullopt;
    TcpCensusByNetns census;
    std::unordered_set<uint64_t> seen;  // a socket shared after fork() is one socket
    for (size_t at = 0; at + sizeof(sc_census_socket) <= bytes.size(); at += sizeof(sc_census_socket)) {
        sc_census_socket s;
        std::memcpy(&s, bytes.data() + at, sizeof(s));
        if (!seen.insert(s.inode).second)
            continue;
        TcpCensus& ns = census[s.netns];
        ++ns.held;
        ns.same_ends_seen |= s.symmetric != 0;
    }
    return census;
}

}  // namespace selfconnect
