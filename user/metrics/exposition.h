// Prometheus' text format: a family's HELP and TYPE lines, and one sample.
// Every series /metrics serves is written through these.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace selfconnect::exposition {

inline void family(std::string& out, std::string_view name, std::string_view type, std::string_view help)
{
    out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" ");
    out.append(type).append("\n");
}

// `labels` as written between the braces (name="value",...); none: no braces.
inline void sample(std::string& out, std::string_view name, const std::string& labels, uint64_t value)
{
    out += name;
    if (!labels.empty())
        out += "{" + labels + "}";
    out += " " + std::to_string(value) + "\n";
}

}  // namespace selfconnect::exposition
