// TCP states as the kernel numbers them (include/net/tcp_states.h): what
// sock_diag reports, what the holder iterator writes, what audit asks for.
#pragma once

#include <cstdint>

namespace selfconnect {

enum TcpState : uint8_t {
    kTcpEstablished = 1,
    kTcpSynSent = 2,
    kTcpSynRecv = 3,
    kTcpFinWait1 = 4,
    kTcpFinWait2 = 5,
    kTcpClose = 7,
    kTcpCloseWait = 8,
    kTcpLastAck = 9,
    kTcpListen = 10,
    kTcpClosing = 11,
};

// A sock_diag state mask (bit N: state N).
constexpr uint32_t tcp_state_bit(TcpState s) { return 1U << s; }

}  // namespace selfconnect
