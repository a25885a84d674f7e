// How the program meets the inet_sock_set_state hook. Decided once, at load
// (resolve_attach_mode in kernel_features.h).
#pragma once

#include <optional>
#include <string_view>

namespace selfconnect {

enum class AttachMode {
    Auto,        // tp_btf where the kernel offers it, else tracepoint
    TpBtf,       // BTF-enabled raw tracepoint: direct reads, cheapest
    Tracepoint,  // classic tracepoint sock/inet_sock_set_state
};

std::string_view attach_mode_name(AttachMode m);
std::optional<AttachMode> parse_attach_mode(std::string_view s);

}  // namespace selfconnect
