// The kernel's port-list syntax, as in net.ipv4.ip_local_reserved_ports:
// "8080,9000-9010". Parsing and printing, for merging in a fix.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>

namespace selfconnect {

using PortSet = std::bitset<65536>;

// "8080": a port number of at most five digits, 0 to 65535; nothing else.
std::optional<uint16_t> parse_port_number(const std::string& text);

std::optional<PortSet> parse_port_list(const std::string& text);
std::string format_port_list(const PortSet& ports);

}  // namespace selfconnect
