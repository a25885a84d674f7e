#include "records/text_format.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <ctime>
#include <cstdio>

namespace selfconnect {

std::string format_address(uint16_t family, std::span<const uint8_t, 16> addr)
{
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr.data(), buf, sizeof(buf)))
        return "?";
    return buf;
}

std::string format_rfc3339_utc(std::chrono::system_clock::time_point t)
{
    using namespace std::chrono;
    const auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
    const time_t secs = static_cast<time_t>(us / 1'000'000);
    const long frac = static_cast<long>(us % 1'000'000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    snprintf(out, sizeof(out), "%s.%06ldZ", date, frac);
    return out;
}

namespace {

void append_hex_byte(std::string& out, unsigned char c, const char* prefix)
{
    char buf[8];
    snprintf(buf, sizeof(buf), "%s%02x", prefix, c);
    out += buf;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8_sequence_length(std::string_view s, size_t i)
{
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + len > s.size())
        return 0;
    for (size_t k = 1; k < len; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    // Reject overlong forms, surrogates and values past Unicode.
    static constexpr uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

}  // namespace

bool is_valid_utf8(std::string_view s)
{
    for (size_t i = 0; i < s.size();) {
        const size_t n = utf8_sequence_length(s, i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

std::string escape_for_terminal(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const size_t n = utf8_sequence_length(s, i);
        const bool c1_control = n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0;
        if (n == 1 && c >= 0x20 && c != 0x7F && c != '\\') {
            out += static_cast<char>(c);
        } else if (n > 1 && !c1_control) {
            out.append(s.substr(i, n));
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\\') {
            out += "\\\\";
        } else {
            // Invalid byte, C0/C1 control or DEL: escape every byte of it.
            const size_t len = n == 0 ? 1 : n;
            for (size_t k = 0; k < len; ++k)
                append_hex_byte(out, static_cast<unsigned char>(s[i + k]), "\\x");
            i += len;
            continue;
        }
        i += n;
    }
    return out;
}

std::string to_hex(std::string_view s)
{
    std::string out;
    out.reserve(s.size() * 2);
    for (unsigned char c : s)
        append_hex_byte(out, c, "");
    return out;
}

}  // namespace selfconnect
