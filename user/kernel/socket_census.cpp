#include "kernel/socket_census.h"

#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "events.h"
#include "host/unique_fd.h"
#include "kernel/iterator_output.h"
#include "kernel/kernel_features.h"
#include "kernel/kernel_program.h"
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

// One run of the census whose attached iterator is `link_fd`.
std::optional<TcpCensusByNetns> read_census(int link_fd)
{
    UniqueFd iter(link_fd >= 0 ? bpf_iter_create(link_fd) : -1);
    if (!iter)
        return std::nullopt;
    std::optional<std::vector<sc_census_socket>> records = read_iterator<sc_census_socket>(iter.get());
    if (!records)
        return std::nullopt;
    // A socket shared after fork() is one socket: each inode counted once,
    // found by sorting (no set beside a million records).
    std::sort(records->begin(), records->end(),
              [](const sc_census_socket& a, const sc_census_socket& b) { return a.inode < b.inode; });
    TcpCensusByNetns census;
    for (size_t i = 0; i < records->size(); ++i) {
        const sc_census_socket& s = (*records)[i];
        if (i > 0 && (*records)[i - 1].inode == s.inode)
            continue;
        TcpCensus& ns = census[s.netns];
        if (s.flags & SC_CENSUS_MPTCP) {
            ns.mptcp_seen = true;
            continue;
        }
        ++ns.held;
        ns.same_ends_seen |= (s.flags & SC_CENSUS_SAME_ENDS) != 0;
    }
    return census;
}

TakenCensus take_census_through(int link_fd)
{
    TakenCensus taken;
    taken.census = read_census(link_fd);
    if (!taken.census)
        taken.failure = std::string("its iterator could not be read: ") + std::strerror(errno);
    return taken;
}

}  // namespace

TakenCensus take_tcp_census()
{
    // Asked first: without the helper the load fails, and libbpf would say
    // so at length.
    if (!kernel_btf_has_name("BPF_FUNC_sock_from_file"))
        return {};
    // libbpf's account of a failure is not the caller's to print; the
    // caller says it in one line.
    const auto previous = libbpf_set_print(quiet);
    std::unique_ptr<socket_census_bpf, SkeletonDeleter> skel(socket_census_bpf__open_and_load());
    const int load_error = skel ? 0 : errno;
    std::unique_ptr<bpf_link, LinkDeleter> link(skel ? bpf_program__attach_iter(skel->progs.socket_census, nullptr)
                                                     : nullptr);
    const int attach_error = link ? 0 : errno;
    libbpf_set_print(previous);
    if (!skel)
        return {std::nullopt, std::string("its program could not be loaded: ") + std::strerror(load_error)};
    if (!link)
        return {std::nullopt, std::string("its iterator could not be attached: ") + std::strerror(attach_error)};
    return take_census_through(bpf_link__fd(link.get()));
}

TakenCensus take_tcp_census(const KernelProgram& program)
{
    if (program.census_link_fd() < 0)
        return {};
    return take_census_through(program.census_link_fd());
}

}  // namespace selfconnect
