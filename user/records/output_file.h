// --output FILE: records appended to a file that logrotate may move away.
// reopen() (on SIGHUP) opens the name again; lines are whole writes, made
// on the same thread, so none is split or lost across the switch.
#pragma once

#include <optional>
#include <string>

#include "host/unique_fd.h"
#include "records/line_writer.h"

namespace selfconnect {

class OutputFile {
public:
    OutputFile(std::string path, LineWriter& writer);
    // Returns an error sentence, or nothing; on error the old file stays.
    std::optional<std::string> reopen();

private:
    std::string path_;
    LineWriter& writer_;
    UniqueFd fd_;
};

}  // namespace selfconnect
