#include "named_netns.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>

#include "wait_for.h"
#include "watch_process.h"

namespace selfconnect::testing {

namespace {

std::string trimmed(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

void must(const RunResult& r, const std::string& what)
{
    if (r.status != 0)
        throw std::runtime_error(what + " failed: " + r.err);
}

}  // namespace

NamedNetns::NamedNetns(const std::string& port_range)
{
    static std::atomic<int> counter{0};
    name_ = "sc-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    must(run_command({"ip", "netns", "add", name_}), "ip netns add " + name_);
    struct stat st{};
    if (stat(("/run/netns/" + name_).c_str(), &st) == 0)
        inode_ = static_cast<uint32_t>(st.st_ino);
    must(run_command(exec({"ip", "link", "set", "lo", "up"})), "lo up");
    write_sysctl("net/ipv4/ip_local_port_range", port_range);
}

NamedNetns::~NamedNetns()
{
    run_command({"ip", "netns", "del", name_});
}

std::vector<std::string> NamedNetns::exec(const std::vector<std::string>& argv) const
{
    std::vector<std::string> full{"ip", "netns", "exec", name_};
    full.insert(full.end(), argv.begin(), argv.end());
    return full;
}

std::vector<std::string> NamedNetns::shell(const std::string& script) const
{
    return exec({"sh", "-c", script});
}

std::vector<std::string> NamedNetns::held_nc(const std::string& fifo_dir, const std::string& nc_args,
                                             bool until_connected) const
{
    const std::string fifo = fifo_dir + "/in";
    // The loop's nc runs as a child: SIGTERM to the shell (the test's
    // BackgroundProcess) ends the nc too, so none is left holding a port.
    const std::string run = until_connected ? "trap 'kill $c; exit 0' TERM; while :; do nc " + nc_args +
                                                  " <&3 & c=$!; wait $c; done"
                                            : "exec nc " + nc_args + " <&3";
    return shell("mkfifo " + fifo + " && exec 3<>" + fifo + " && " + run);
}

std::string NamedNetns::read_sysctl(const std::string& path) const
{
    return trimmed(run_command(exec({"cat", "/proc/sys/" + path})).out);
}

void NamedNetns::write_sysctl(const std::string& path, const std::string& value) const
{
    must(run_command(shell("echo '" + value + "' > /proc/sys/" + path)), "writing " + path);
}

::testing::AssertionResult NamedNetns::wait_listening(uint16_t port) const
{
    const std::string p = std::to_string(port);
    return wait_for("a TCP listener on " + p + " in " + name_, std::chrono::seconds(10), [&] {
        const RunResult r = run_command(exec({"ss", "-Hltn", "sport = :" + p}));
        return Sighting{r.status == 0 && !trimmed(r.out).empty(), "ss: \"" + r.out + r.err + "\""};
    });
}

::testing::AssertionResult NamedNetns::add_twin_devices(const std::string& first, const std::string& second,
                                                        const std::string& addr) const
{
    std::vector<std::vector<std::string>> steps{{"ip", "link", "add", first, "type", "veth", "peer", "name", second}};
    for (const std::string& dev : {first, second}) {
        steps.push_back({"ip", "link", "set", dev, "up"});
        steps.push_back({"ip", "addr", "add", addr + "/32", "dev", dev});
    }
    for (const auto& step : steps) {
        const RunResult r = run_command(exec(step));
        if (r.status != 0)
            return ::testing::AssertionFailure() << step[2] << " " << step[3] << " failed: " << r.err;
    }
    return ::testing::AssertionSuccess();
}

std::vector<std::string> NamedNetns::bound_self_connect(const std::string& device, const std::string& addr,
                                                        uint16_t port) const
{
    return exec({"python3", "-c",
                 "import errno, socket, sys\n"
                 "s = socket.socket()\n"
                 "s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, sys.argv[1].encode())\n"
                 "s.bind((sys.argv[2], int(sys.argv[3])))\n"
                 // connect() too: a watcher may destroy the socket before
                 // connect() has seen it established.
                 "try: s.connect((sys.argv[2], int(sys.argv[3]))); s.recv(1)\n"
                 "except OSError as e: sys.exit(0 if e.errno == errno.ECONNABORTED else 1)\n"
                 "sys.exit(1)\n",
                 device, addr, std::to_string(port)});
}

}  // namespace selfconnect::testing
