#include "host/port_set.h"

#include <sstream>

namespace selfconnect {

std::optional<uint16_t> parse_port_number(const std::string& s)
{
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    const unsigned long v = std::stoul(s);
    if (v > 65535)
        return std::nullopt;
    return static_cast<uint16_t>(v);
}

namespace {

std::string trim(const std::string& s)
{
    const auto b = s.find_first_not_of(" \t\n");
    if (b == std::string::npos)
        return {};
    return s.substr(b, s.find_last_not_of(" \t\n") - b + 1);
}

}  // namespace

std::optional<PortSet> parse_port_list(const std::string& text)
{
    PortSet ports;
    std::stringstream in(trim(text));
    std::string item;
    while (std::getline(in, item, ',')) {
        item = trim(item);
        if (item.empty())
            continue;
        const auto dash = item.find('-');
        const auto lo = parse_port_number(item.substr(0, dash));
        const auto hi = dash == std::string::npos ? lo : parse_port_number(item.substr(dash + 1));
        if (!lo || !hi || *lo > *hi)
            return std::nullopt;
        for (uint32_t p = *lo; p <= *hi; ++p)
            ports.set(p);
    }
    return ports;
}

std::string format_port_list(const PortSet& ports)
{
    std::string out;
    for (uint32_t p = 0; p < 65536; ++p) {
        if (!ports.test(p))
            continue;
        uint32_t end = p;
        while (end + 1 < 65536 && ports.test(end + 1))
            ++end;
        if (!out.empty())
            out += ',';
        out += std::to_string(p);
        if (end > p)
            out += "-" + std::to_string(end);
        p = end;
    }
    return out;
}

}  // namespace selfconnect
