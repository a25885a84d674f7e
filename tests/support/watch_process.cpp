#include "watch_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace selfconnect::testing {

namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline)
{
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

std::optional<int> decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return std::nullopt;
}

// In a forked child: replaces it with argv, or exits 127.
[[noreturn]] void exec_argv(const std::vector<std::string>& argv)
{
    std::vector<char*> cargv;
    for (const auto& a : argv)
        cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    execvp(cargv[0], cargv.data());
    _exit(127);
}

pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env, int& out_fd,
            int& err_fd)
{
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe");
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, STDIN_FILENO);
        for (const auto& e : extra_env)
            putenv(const_cast<char*>(e.c_str()));
        exec_argv(argv);
    }
    close(out[1]);
    close(err[1]);
    out_fd = out[0];
    err_fd = err[0];
    fcntl(err_fd, F_SETFL, O_NONBLOCK);
    return pid;
}

}  // namespace

std::string selfconnect_binary()
{
    // The kernel matrix's VMs carry the binary elsewhere than the build.
    const char* elsewhere = std::getenv("SELFCONNECT_BINARY");
    return elsewhere && *elsewhere ? elsewhere : SELFCONNECT_BINARY;
}

WatchProcess::WatchProcess(std::vector<std::string> args, std::vector<std::string> extra_env,
                           std::vector<std::string> wrapper)
{
    static std::atomic<int> serial{0};
    const std::string name = "selfconnect-test-" + std::to_string(getpid()) + "-" + std::to_string(serial++);
    notify_fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, name.data(), name.size());  // abstract: nothing to clean up
    if (bind(notify_fd_, reinterpret_cast<sockaddr*>(&addr),
             static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())) != 0)
        throw std::runtime_error("bind notify socket");
    extra_env.push_back("NOTIFY_SOCKET=@" + name);
    args.insert(args.begin(), selfconnect_binary());
    args.insert(args.begin(), wrapper.begin(), wrapper.end());
    pid_ = spawn(args, extra_env, out_fd_, err_fd_);
}

WatchProcess::~WatchProcess()
{
    if (!status_ && pid_ > 0) {
        kill(pid_, SIGKILL);
        int st;
        waitpid(pid_, &st, 0);
    }
    for (int fd : {out_fd_, err_fd_, notify_fd_})
        if (fd >= 0)
            close(fd);
}

bool WatchProcess::wait_ready(std::chrono::milliseconds timeout)
{
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        pollfd p{notify_fd_, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            char buf[256];
            const ssize_t n = recv(notify_fd_, buf, sizeof(buf) - 1, 0);
            if (n > 0 && std::string(buf, static_cast<size_t>(n)).find("READY=1") != std::string::npos)
                return true;
        }
        int st;
        if (waitpid(pid_, &st, WNOHANG) == pid_) {
            status_ = decode_status(st);
            return false;
        }
    }
    return false;
}

bool WatchProcess::wait_said_ready(std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (stderr_text().find("selfconnect: ready,") != std::string::npos)
            return true;
        if (wait_exit(std::chrono::milliseconds(100)))
            return false;
    }
    return false;
}

std::optional<std::string> WatchProcess::next_line(std::chrono::milliseconds timeout)
{
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        const auto nl = out_buf_.find('\n');
        if (nl != std::string::npos) {
            std::string line = out_buf_.substr(0, nl);
            out_buf_.erase(0, nl + 1);
            return line;
        }
        if (out_fd_ < 0)
            return std::nullopt;
        pollfd p{out_fd_, POLLIN, 0};
        if (poll(&p, 1, ms_left(deadline)) <= 0)
            return std::nullopt;
        char buf[65536];
        const ssize_t n = read(out_fd_, buf, sizeof(buf));
        if (n <= 0)
            return std::nullopt;
        out_buf_.append(buf, static_cast<size_t>(n));
        drain_stderr();
    }
}

std::vector<std::string> WatchProcess::lines_until_quiet(std::chrono::milliseconds quiet)
{
    std::vector<std::string> lines;
    while (auto line = next_line(quiet))
        lines.push_back(*line);
    return lines;
}

void WatchProcess::signal(int sig) { kill(pid_, sig); }

std::optional<int> WatchProcess::wait_exit(std::chrono::milliseconds timeout)
{
    const auto deadline = Clock::now() + timeout;
    while (!status_) {
        int st;
        if (waitpid(pid_, &st, WNOHANG) == pid_) {
            status_ = decode_status(st);
            break;
        }
        if (Clock::now() >= deadline)
            return std::nullopt;
        drain_stderr();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return status_;
}

void WatchProcess::drain_stderr()
{
    char buf[4096];
    ssize_t n;
    while ((n = read(err_fd_, buf, sizeof(buf))) > 0)
        err_buf_.append(buf, static_cast<size_t>(n));
}

std::string WatchProcess::stderr_text()
{
    drain_stderr();
    return err_buf_;
}

void WatchProcess::close_stdout()
{
    close(out_fd_);
    out_fd_ = -1;
}

RunResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout)
{
    int out_fd, err_fd;
    const pid_t pid = spawn(argv, {}, out_fd, err_fd);
    fcntl(out_fd, F_SETFL, O_NONBLOCK);
    RunResult r;
    const auto deadline = Clock::now() + timeout;
    int st = 0;
    for (;;) {
        char buf[4096];
        ssize_t n;
        while ((n = read(out_fd, buf, sizeof(buf))) > 0)
            r.out.append(buf, static_cast<size_t>(n));
        while ((n = read(err_fd, buf, sizeof(buf))) > 0)
            r.err.append(buf, static_cast<size_t>(n));
        if (waitpid(pid, &st, WNOHANG) == pid)
            break;
        if (Clock::now() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(out_fd, buf, sizeof(buf))) > 0)
        r.out.append(buf, static_cast<size_t>(n));
    while ((n = read(err_fd, buf, sizeof(buf))) > 0)
        r.err.append(buf, static_cast<size_t>(n));
    close(out_fd);
    close(err_fd);
    r.status = decode_status(st).value_or(-1);
    return r;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv)
{
    pid_ = fork();
    if (pid_ == 0) {
        // A group of its own: a shell loop's children end with it.
        setpgid(0, 0);
        const int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        exec_argv(argv);
    }
    if (pid_ > 0)
        setpgid(pid_, pid_);  // as the child does: whichever runs first
}

BackgroundProcess::~BackgroundProcess()
{
    if (pid_ <= 0)
        return;
    // The whole group the child leads: what it started goes with it.
    kill(-pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
        int st;
        if (waitpid(pid_, &st, WNOHANG) == pid_) {
            kill(-pid_, SIGKILL);  // a child that ignored SIGTERM
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(-pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
}

TempDir::TempDir()
{
    char tmpl[] = "/tmp/selfconnect-test-XXXXXX";
    if (!mkdtemp(tmpl))
        throw std::runtime_error("mkdtemp");
    path_ = tmpl;
}

TempDir::~TempDir()
{
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

bool has_exited(pid_t pid)
{
    // The state follows the command name, which may hold spaces and parentheses.
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto name_end = stat.rfind(')');
    return name_end == std::string::npos || name_end + 2 >= stat.size() || stat[name_end + 2] == 'Z';
}

double cpu_seconds_of(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string f;
    unsigned long long ticks = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i)
        if (i == 14 || i == 15)  // utime, stime
            ticks += std::stoull(f);
    return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

size_t open_descriptors(pid_t pid)
{
    size_t n = 0;
    for ([[maybe_unused]] const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
        ++n;
    return n;
}

}  // namespace selfconnect::testing
