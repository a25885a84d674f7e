// A record as a journal entry (journald's native protocol): MESSAGE is the
// line as printed, PRIORITY says how much it matters, and each field of the
// record's JSON form is a journal field of its own, SELFCONNECT_ and its
// name in capitals (nested ones joined by '_': holder.pid is
// SELFCONNECT_HOLDER_PID), so `journalctl SELFCONNECT_TYPE=self_connect`
// finds them.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace selfconnect {

// syslog's levels: a self-connect is a warning, a server kept from its port
// or records lost an error, a prevention or a reservation a notice, the rest
// information; a reservation or kill that failed at least a warning.
int journal_priority(const nlohmann::json& fields);

// The journal field of a record's field at `path` ("holder_pid"). A value is
// sent as the text form shows it (control bytes and invalid UTF-8 as \xNN).
std::string journal_field_name(std::string_view path);

// The datagram for one record (`fields`, its JSON form) printed as `message`.
std::string journal_entry(const nlohmann::json& fields, const std::string& message);

}  // namespace selfconnect
