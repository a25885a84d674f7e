#include "watch/holder_lookups.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>

#include "host/capabilities.h"

namespace selfconnect {

HolderLookups::HolderLookups(PortHolderFinder& finder, size_t max_queued)
    : finder_(finder), max_queued_(max_queued), ready_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
}

HolderLookups::~HolderLookups()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable())
        worker_.join();
}

void HolderLookups::start(std::vector<int> keep_capabilities)
{
    if (worker_.joinable())
        return;
    // Returns once the worker holds no more than it needs: nothing else of
    // the watcher's runs while it holds more.
    std::promise<void> dropped;
    worker_ = std::thread([this, keep = std::move(keep_capabilities), &dropped] {
        if (auto err = drop_this_threads_capabilities(keep))
            std::fprintf(stderr, "selfconnect: %s\n", err->c_str());
        dropped.set_value();
        work();
    });
    dropped.get_future().wait();
}

bool HolderLookups::ask(const Record& r)
{
    {
        std::lock_guard lock(mutex_);
        const bool queued = std::any_of(queue_.begin(), queue_.end(), [&](const Record& q) {
            return q.netns == r.netns && q.port == r.port;
        });
        if (queued)
            return true;  // its answer serves this one too
        if (queue_.size() >= max_queued_) {
            ++dropped_;
            return false;
        }
        queue_.push_back(r);
    }
    wake_.notify_one();
    return true;
}

std::vector<HolderAnswer> HolderLookups::take_answers()
{
    uint64_t count = 0;
    (void)!read(ready_.get(), &count, sizeof(count));
    std::lock_guard lock(mutex_);
    return std::exchange(answers_, {});
}

uint64_t HolderLookups::dropped() const
{
    std::lock_guard lock(mutex_);
    return dropped_;
}

void HolderLookups::work()
{
    using Clock = std::chrono::steady_clock;
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_)
            return;
        Record r = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        const auto began = Clock::now();
        std::vector<HeldSocket> held = finder_.find(r.netns, r.port);
        const auto took = Clock::now() - began;
        HolderAnswer answer{std::move(r), std::move(held)};
        lock.lock();
        answers_.push_back(std::move(answer));
        const uint64_t one = 1;
        (void)!write(ready_.get(), &one, sizeof(one));
        // A tenth of a core at most, however many lookups are asked for.
        wake_.wait_for(lock, took * 9, [&] { return stopping_; });
    }
}

}  // namespace selfconnect
