// Owns a libbpf ring_buffer over the events map and hands each event, copied
// out of the ring, to a handler. Exceptions from the handler never cross
// libbpf: they stop the consume and are rethrown from consume().
#pragma once

#include <cstdint>
#include <exception>
#include <functional>

#include "events.h"

struct ring_buffer;

namespace selfconnect {

class RingBufferReader {
public:
    using Handler = std::function<void(const sc_event&)>;

    RingBufferReader(int map_fd, Handler handler);
    ~RingBufferReader();
    RingBufferReader(const RingBufferReader&) = delete;
    RingBufferReader& operator=(const RingBufferReader&) = delete;

    // Readable when events are waiting; for the caller's own poll loop.
    int epoll_fd() const;
    // Hands every waiting event to the handler.
    void consume();
    // Events of an unexpected size (a build mismatch): counted, not decoded.
    uint64_t malformed() const { return malformed_; }

private:
    static int on_sample(void* ctx, void* data, size_t size);

    ring_buffer* rb_ = nullptr;
    Handler handler_;
    std::exception_ptr failure_;
    uint64_t malformed_ = 0;
};

}  // namespace selfconnect
