// Can this process use bpf() here, and does the kernel have what the
// detector needs? libbpf's own probe answers "no" alike when the kernel
// lacks a feature and when a seccomp filter or an LSM refuses the call; the
// user needs to know which, because the fixes have nothing in common.
#pragma once

#include <string>

namespace selfconnect {

// The seccomp mode of this process (/proc/self/status "Seccomp:"): 0 none,
// 1 strict, 2 filter; -1 if it cannot be read.
int seccomp_mode();

// The sentence for a ring buffer map that could not be created with errno
// `err`, or "" when err is 0. Pure, for the tests.
std::string explain_ring_buffer_probe(int err, int seccomp);

// Creates and frees a small BPF ring buffer; "" when that works.
std::string probe_ring_buffer();

}  // namespace selfconnect
