// The one place where what the kernel writes (bpf/events.h) becomes the
// record model: ring-buffer events, the closes the kernel kept instead of
// writing, and the holder iterator's records.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "events.h"
#include "records/record.h"

namespace selfconnect {

// Maps a kernel event to a record. `wall` is when the event happened.
// Nothing for a kind this loader does not know: the caller counts it as
// lost (LossPlace::UnknownKind).
std::optional<Record> decode_event(const sc_event& e, std::chrono::system_clock::time_point wall);

// A self-connect's close the kernel did not write, at `mono_ns`: a record
// of its kind with the socket's address and that time only, to find the
// self-connect it closes (never written itself).
Record decode_unwritten_close(const sc_unwritten_close& c, uint64_t mono_ns);

// A socket the holder iterator found holding a port.
HeldSocket decode_holder(const sc_holder& h);

// Converts a kernel CLOCK_MONOTONIC stamp to wall-clock time, using the
// current offset between the two clocks.
std::chrono::system_clock::time_point wall_time_of(uint64_t mono_ns);

}  // namespace selfconnect
