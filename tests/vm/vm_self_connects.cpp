// Runs inside the kernel-matrix VMs: brings lo up, then makes one IPv4, one
// IPv6 and one v4-mapped self-connect on the given port, optionally with the
// do-nothing program attached to the classic tracepoint (the control that
// tells a kernel or emulator fault from one of selfconnect's).
//   vm-self-connects lo-up
//   vm-self-connects PORT [noop-tracepoint]
#include <sys/socket.h>

#include <bpf/libbpf.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "noop.skel.h"
#include "self_connect.h"

using namespace selfconnect::testing;

namespace {

struct NoopDeleter {
    void operator()(noop_bpf* s) const { noop_bpf__destroy(s); }
};

std::unique_ptr<noop_bpf, NoopDeleter> attach_noop_tracepoint()
{
    std::unique_ptr<noop_bpf, NoopDeleter> skel(noop_bpf__open());
    if (!skel)
        return nullptr;
    bpf_program__set_autoload(skel->progs.noop_state_change, false);
    if (noop_bpf__load(skel.get()) != 0 || noop_bpf__attach(skel.get()) != 0)
        return nullptr;
    return skel;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc < 2)
        return 2;
    if (std::string(argv[1]) == "lo-up")
        return bring_loopback_up() ? 0 : 1;
    const auto port = static_cast<uint16_t>(std::atoi(argv[1]));
    std::unique_ptr<noop_bpf, NoopDeleter> noop;
    if (argc > 2 && std::string(argv[2]) == "noop-tracepoint") {
        noop = attach_noop_tracepoint();
        std::printf("do-nothing program on the tracepoint: %s\n", noop ? "attached" : "FAILED");
        if (!noop)
            return 1;
    }
    const SelfConnectPlan plans[] = {{AF_INET, "127.0.0.1", port, "sc-vm-v4"},
                                     {AF_INET6, "::1", port, "sc-vm-v6"},
                                     {AF_INET6, "::ffff:127.0.0.1", port, "sc-vm-mapped"}};
    for (const auto& plan : plans) {
        const int status = wait_child(start_self_connects(plan).pid);
        std::printf("made %s self-connect: %s\n", plan.addr.c_str(), status == 0 ? "ok" : "FAILED");
        if (status != 0)
            return 1;
    }
    return 0;
}
