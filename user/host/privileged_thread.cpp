#include "host/privileged_thread.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <stdexcept>
#include <utility>

#include "host/capabilities.h"

namespace selfconnect {

PrivilegedThread::PrivilegedThread(std::vector<int> keep)
{
    thread_ = std::thread([this, keep = std::move(keep)] { serve(keep); });
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return started_; });
}

PrivilegedThread::~PrivilegedThread()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
}

void PrivilegedThread::serve(std::vector<int> keep)
{
    {
        std::lock_guard lock(mutex_);
        // Every set of this thread (bounding and ambient too) and
        // no_new_privs, as the main thread's after attaching.
        start_error_ = drop_capabilities_except(keep);
        tid_ = static_cast<int>(syscall(SYS_gettid));
        started_ = true;
    }
    changed_.notify_all();
    std::unique_lock lock(mutex_);
    for (;;) {
        changed_.wait(lock, [&] { return stopping_ || job_ != nullptr; });
        if (!job_)
            return;
        try {
            (*job_)();
        } catch (...) {
            failure_ = std::current_exception();
        }
        job_ = nullptr;
        done_ = true;
        changed_.notify_all();
    }
}

void PrivilegedThread::run(const std::function<void()>& fn)
{
    std::lock_guard one_caller(callers_);  // one job from start to end
    std::unique_lock lock(mutex_);
    if (start_error_)
        throw std::runtime_error(*start_error_);
    job_ = &fn;
    done_ = false;
    failure_ = nullptr;
    changed_.notify_all();
    changed_.wait(lock, [&] { return done_; });
    done_ = false;
    if (auto failure = std::exchange(failure_, nullptr))
        std::rethrow_exception(failure);
}

}  // namespace selfconnect
