// Runs the real `selfconnect` binary as a child and talks to it the way a
// user or systemd would: arguments in, READY=1 on a notify socket, lines on
// stdout, a summary on stderr, signals, an exit status.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace selfconnect::testing {

// The binary under test: $SELFCONNECT_BINARY where set, else the build's.
std::string selfconnect_binary();

class WatchProcess {
public:
    // Starts `selfconnect <args...>` with NOTIFY_SOCKET pointing at a socket
    // of ours. `extra_env` entries are "NAME=value". A `wrapper` command
    // runs first and must exec what follows it (`unshare -m sh -c '... &&
    // exec "$0" "$@"'`), so that the pid stays the watcher's.
    explicit WatchProcess(std::vector<std::string> args, std::vector<std::string> extra_env = {},
                          std::vector<std::string> wrapper = {});
    ~WatchProcess();  // SIGKILLs the child if it still runs
    WatchProcess(const WatchProcess&) = delete;
    WatchProcess& operator=(const WatchProcess&) = delete;

    pid_t pid() const { return pid_; }
    // Waits for READY=1; false on timeout or if the child exited first.
    bool wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Waits for the line on stderr that says it is ready: for a watcher in
    // another network namespace, which cannot reach the notify socket (an
    // abstract one, of the test's namespace).
    bool wait_said_ready(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // The next stdout line, or nothing after `timeout`.
    std::optional<std::string> next_line(std::chrono::milliseconds timeout);
    // Every stdout line that arrives within `quiet` of the previous one.
    std::vector<std::string> lines_until_quiet(std::chrono::milliseconds quiet);
    void signal(int sig);
    // Exit status (or 128 + signal), or nothing if still running after timeout.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // All of stderr so far (complete once the child exited).
    std::string stderr_text();
    // Stops reading stdout: the child's next write gets EPIPE.
    void close_stdout();

private:
    void drain_stderr();
    pid_t pid_ = -1;
    int out_fd_ = -1;
    int err_fd_ = -1;
    int notify_fd_ = -1;
    std::string out_buf_;
    std::string err_buf_;
    std::optional<int> status_;
};

// Runs a command to completion; returns its exit status, with stdout and
// stderr captured.
struct RunResult {
    int status = -1;
    std::string out;
    std::string err;
};
RunResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(30));

// User plus system CPU time of a process, all its threads, in seconds: what
// a watcher spent, for tests that bound its cost.
double cpu_seconds_of(pid_t pid);

// How many descriptors a process has open now.
size_t open_descriptors(pid_t pid);

// Whether a child has exited (reaped or not yet): for a test that waits for
// a helper program's end without reaping it from under its owner.
bool has_exited(pid_t pid);

// A helper program (a Prometheus server, say) running for the length of a
// test, in a process group of its own: output discarded, SIGTERM then
// SIGKILL to that group (the child and what it started) when destroyed.
class BackgroundProcess {
public:
    explicit BackgroundProcess(const std::vector<std::string>& argv);
    ~BackgroundProcess();
    BackgroundProcess(const BackgroundProcess&) = delete;
    BackgroundProcess& operator=(const BackgroundProcess&) = delete;
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
};

// A fresh folder under /tmp, removed with everything in it when destroyed.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace selfconnect::testing
