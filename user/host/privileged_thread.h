// A thread that keeps a few capabilities while every other thread drops
// them all (capabilities are per thread): it runs, one at a time and on
// request, the few calls that need them later (entering a network
// namespace to attach the guard to its loopback). Nothing else ever runs
// on it, so nothing else ever holds those capabilities.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace selfconnect {

class PrivilegedThread {
public:
    // Starts the thread, which keeps only `keep` (capability numbers) of
    // what the caller holds now. Call before the caller drops its own.
    explicit PrivilegedThread(std::vector<int> keep);
    ~PrivilegedThread();
    PrivilegedThread(const PrivilegedThread&) = delete;
    PrivilegedThread& operator=(const PrivilegedThread&) = delete;

    // Runs `fn` on the thread and waits for it; an exception it throws is
    // rethrown here. If the thread could not drop to `keep`, says why and
    // runs nothing.
    void run(const std::function<void()>& fn);

    // The thread's id (/proc/self/task/TID), for tests and the start line.
    int tid() const { return tid_; }

private:
    void serve(std::vector<int> keep);

    std::mutex callers_;
    std::mutex mutex_;
    std::condition_variable changed_;
    const std::function<void()>* job_ = nullptr;
    std::exception_ptr failure_;
    bool done_ = false;
    bool stopping_ = false;
    bool started_ = false;
    std::optional<std::string> start_error_;
    int tid_ = 0;
    std::thread thread_;
};

}  // namespace selfconnect
