// Pure text helpers: addresses, timestamps, and names that came from
// untrusted processes.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace selfconnect {

// "127.0.0.1", "::1", "::ffff:127.0.0.1". family is AF_INET or AF_INET6;
// an AF_INET address occupies the first four bytes.
std::string format_address(uint16_t family, std::span<const uint8_t, 16> addr);

// RFC 3339 in UTC with microseconds: 2026-11-25T04:01:02.123456Z.
std::string format_rfc3339_utc(std::chrono::system_clock::time_point t);

bool is_valid_utf8(std::string_view s);

// Makes an attacker-chosen name safe for a terminal: C0 and C1 controls, DEL,
// backslash and bytes that are not valid UTF-8 become \xNN (\n, \t, \\ too),
// so nothing in a process name can move the cursor or fake a line.
std::string escape_for_terminal(std::string_view s);

// Lower-case hex of the bytes, for names that are not valid UTF-8.
std::string to_hex(std::string_view s);

}  // namespace selfconnect
