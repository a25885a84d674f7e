#include "kernel/listener_origins.h"

#include <unistd.h>

#include <bpf/bpf.h>

#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "events.h"
#include "host/netns.h"
#include "host/unique_fd.h"
#include "kernel/iterator_output.h"
#include "kernel/kernel_program.h"

namespace selfconnect {

bool ListenerOrigins::available() const { return program_.listener_origins_link_fd() >= 0; }

std::optional<ListenerOriginMap> ListenerOrigins::of_namespace(int netns_fd) const
{
    if (!available())
        return std::nullopt;
    // The tcp iterator walks the namespace of whoever opens it: opened on a
    // thread that joined the namespace, read here.
    UniqueFd iter;
    try {
        run_in_netns(netns_fd, [&] { iter = UniqueFd(bpf_iter_create(program_.listener_origins_link_fd())); });
    } catch (const std::exception&) {
        return std::nullopt;  // the namespace is gone, or may not be entered
    }
    if (!iter)
        return std::nullopt;
    const std::optional<std::vector<sc_listener_origin>> records = read_iterator<sc_listener_origin>(iter.get());
    if (!records)
        return std::nullopt;
    ListenerOriginMap origins;
    for (const sc_listener_origin& o : *records)
        origins[o.inode] = (o.flags & SC_FLAG_PORT_CHOSEN_BY_KERNEL) != 0;
    return origins;
}

}  // namespace selfconnect
