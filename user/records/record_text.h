// The text form: one line a record, for people at a terminal. Names chosen
// by other processes are escaped (see escape_for_terminal).
#pragma once

#include <string>

#include "records/lost_events.h"
#include "records/record.h"

namespace selfconnect {

std::string to_text(const Record& r);
std::string lost_text(const LostEvents& l);

}  // namespace selfconnect
