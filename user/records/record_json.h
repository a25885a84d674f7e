// The JSON form: one object a record (NDJSON), for log collectors.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "records/lost_events.h"
#include "records/record.h"

namespace selfconnect {

nlohmann::json to_json(const Record& r);
nlohmann::json lost_json(const LostEvents& l);

// The one JSON line for a record: always valid UTF-8 JSON.
std::string json_line(const nlohmann::json& j);

}  // namespace selfconnect
