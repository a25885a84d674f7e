#include "kernel/ring_buffer_reader.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace selfconnect {

RingBufferReader::RingBufferReader(int map_fd, Handler handler) : handler_(std::move(handler))
{
    rb_ = ring_buffer__new(map_fd, &RingBufferReader::on_sample, this, nullptr);
    if (!rb_)
        throw std::runtime_error(std::string("cannot open the ring buffer: ") + strerror(errno));
}

RingBufferReader::~RingBufferReader() { ring_buffer__free(rb_); }

int RingBufferReader::epoll_fd() const { return ring_buffer__epoll_fd(rb_); }

int RingBufferReader::on_sample(void* ctx, void* data, size_t size)
{
    auto* self = static_cast<RingBufferReader*>(ctx);
    if (size != sizeof(sc_event)) {
        ++self->malformed_;
        return 0;
    }
    sc_event event;
    std::memcpy(&event, data, sizeof(event));  // the ring slot is released after we return
    try {
        self->handler_(event);
        return 0;
    } catch (...) {
        self->failure_ = std::current_exception();
        return -ECANCELED;
    }
}

void RingBufferReader::consume()
{
    const int n = ring_buffer__consume(rb_);
    if (failure_)
        std::rethrow_exception(std::exchange(failure_, nullptr));
    if (n < 0 && n != -EINTR)
        throw std::runtime_error(std::string("cannot read the ring buffer: ") + strerror(-n));
}

}  // namespace selfconnect
