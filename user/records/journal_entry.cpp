#include "records/journal_entry.h"

#include <syslog.h>

#include <algorithm>
#include <cstdint>

#include "records/text_format.h"

namespace selfconnect {

namespace {

// journald takes field names of capitals, digits and '_', at most 64 long.
constexpr size_t kMaxFieldName = 64;

void add_field(std::string& entry, std::string_view name, std::string_view value)
{
    entry += name;
    if (value.find('\n') == std::string_view::npos) {
        entry += '=';
        entry += value;
        entry += '\n';
        return;
    }
    // A value with a newline (a comm may hold one) goes with its length
    // first: the name, '\n', 64-bit little-endian length, the bytes, '\n'.
    entry += '\n';
    const uint64_t size = value.size();
    for (int byte = 0; byte < 8; ++byte)
        entry += static_cast<char>((size >> (8 * byte)) & 0xff);
    entry += value;
    entry += '\n';
}

void add_fields(std::string& entry, const std::string& path, const nlohmann::json& value)
{
    if (value.is_null())
        return;  // unknown: no field, as journalctl shows a field it lacks
    if (value.is_object()) {
        for (const auto& [key, inner] : value.items())
            add_fields(entry, path + "_" + key, inner);
        return;
    }
    // As the text form shows it: control bytes and invalid UTF-8 escaped
    // (\xNN), so that journald keeps it text, never a blob of bytes (the
    // raw bytes of an odd comm are in comm_hex).
    if (value.is_string())
        add_field(entry, journal_field_name(path), escape_for_terminal(value.get_ref<const std::string&>()));
    else  // numbers, true/false, and arrays (ephemeral_range) as JSON text
        add_field(entry, journal_field_name(path), value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

int journal_priority(const nlohmann::json& fields)
{
    const auto type_of = fields.find("type");
    const std::string type = type_of != fields.end() && type_of->is_string() ? type_of->get<std::string>() : "";
    int priority = LOG_INFO;
    // Records lost: their own level, so that journald's rate limit, kept
    // per level, does not drop them with the flood that caused them.
    if (type == "listener_blocked" || type == "events_lost")
        priority = LOG_ERR;
    else if (type == "self_connect" || type == "self_connect_repeats" || type == "retry_loop" || type == "guard_missed")
        priority = LOG_WARNING;
    else if (type == "self_connect_prevented" || type == "port_reserved" || type == "listener_at_risk")
        priority = LOG_NOTICE;
    // A reservation or a kill that failed asks for someone.
    const auto failed = [&](const char* key) {
        const auto it = fields.find(key);
        return it != fields.end() && !it->is_null();
    };
    if (failed("error") || failed("kill_error"))
        priority = std::min(priority, LOG_WARNING);
    return priority;
}

std::string journal_field_name(std::string_view path)
{
    std::string name = "SELFCONNECT_";
    for (char c : path) {
        if (name.size() == kMaxFieldName)
            break;
        if (c >= 'a' && c <= 'z')
            name += static_cast<char>(c - 'a' + 'A');
        else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            name += c;
        else
            name += '_';
    }
    return name;
}

std::string journal_entry(const nlohmann::json& fields, const std::string& message)
{
    std::string entry;
    add_field(entry, "MESSAGE", message);
    add_field(entry, "PRIORITY", std::to_string(journal_priority(fields)));
    add_field(entry, "SYSLOG_FACILITY", std::to_string(LOG_DAEMON >> 3));  // as the stream's lines had
    add_field(entry, "SYSLOG_IDENTIFIER", "selfconnect");
    for (const auto& [key, value] : fields.items())
        add_fields(entry, key, value);
    return entry;
}

}  // namespace selfconnect
