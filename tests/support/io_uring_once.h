// One io_uring request, submitted and waited for, driven by hand: Debian
// 12's liburing predates some of the opcodes the tests need.
#pragma once

#include <linux/io_uring.h>

namespace selfconnect::testing {

// Submits `sqe` on a ring of its own and waits for its completion; its
// result (0 or more, or -errno).
int io_uring_once(const io_uring_sqe& sqe);

}  // namespace selfconnect::testing
