#include "kernel/attach_mode.h"

namespace selfconnect {

std::string_view attach_mode_name(AttachMode m)
{
    switch (m) {
    case AttachMode::Auto: return "auto";
    case AttachMode::TpBtf: return "tp_btf";
    case AttachMode::Tracepoint: return "tracepoint";
    }
    return "?";
}

std::optional<AttachMode> parse_attach_mode(std::string_view s)
{
    for (auto m : {AttachMode::Auto, AttachMode::TpBtf, AttachMode::Tracepoint})
        if (attach_mode_name(m) == s)
            return m;
    return std::nullopt;
}

}  // namespace selfconnect
