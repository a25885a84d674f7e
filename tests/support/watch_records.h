// Reading the NDJSON records that `selfconnect watch --json` prints.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "watch_process.h"

namespace selfconnect::testing {

// The attach mode under test: suites that run once per mode set
// SELFCONNECT_TEST_ATTACH_MODE (see tests/CMakeLists.txt); "auto" otherwise.
std::string attach_mode_under_test();

// Every line must be valid JSON; those of `type`, in order.
std::vector<nlohmann::json> records_of_type(const std::vector<std::string>& lines, const std::string& type);

// The lines of a file (--output's, say), without their newlines.
std::vector<std::string> read_lines(const std::string& path);

// Reads records until one of `type` arrives or `timeout` passes in all. Each
// record read, the one returned included, is appended to `seen`.
std::optional<nlohmann::json> wait_for_record(WatchProcess& watch, const std::string& type,
                                              std::chrono::milliseconds timeout,
                                              std::vector<nlohmann::json>& seen);

}  // namespace selfconnect::testing
