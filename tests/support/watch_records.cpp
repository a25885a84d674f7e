#include "watch_records.h"

#include <cstdlib>
#include <fstream>

namespace selfconnect::testing {

using nlohmann::json;

std::string attach_mode_under_test()
{
    const char* m = std::getenv("SELFCONNECT_TEST_ATTACH_MODE");
    return m ? m : "auto";
}

std::vector<json> records_of_type(const std::vector<std::string>& lines, const std::string& type)
{
    std::vector<json> out;
    for (const auto& l : lines) {
        json j = json::parse(l);
        if (j["type"] == type)
            out.push_back(j);
    }
    return out;
}

std::vector<std::string> read_lines(const std::string& path)
{
    std::vector<std::string> lines;
    std::ifstream in(path);
    for (std::string l; std::getline(in, l);)
        lines.push_back(l);
    return lines;
}

std::optional<json> wait_for_record(WatchProcess& watch, const std::string& type, std::chrono::milliseconds timeout,
                                    std::vector<json>& seen)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return std::nullopt;
        const auto line = watch.next_line(left);
        if (!line)
            return std::nullopt;
        seen.push_back(json::parse(*line));
        if (seen.back()["type"] == type)
            return seen.back();
    }
}

}  // namespace selfconnect::testing
