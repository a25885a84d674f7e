// Runs inside the kernel-matrix VMs: brings lo up, then makes one IPv4, one
// IPv6 and one v4-mapped self-connect on the given port.
//   vm-self-connects lo-up
//   vm-self-connects PORT
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "self_connect.h"

using namespace selfconnect::testing;

int main(int argc, char** argv)
{
    if (argc != 2)
        return 2;
    if (std::string(argv[1]) == "lo-up")
        return bring_loopback_up() ? 0 : 1;
    const auto port = static_cast<uint16_t>(std::atoi(argv[1]));
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
