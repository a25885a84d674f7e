#include "cli/command_line.h"

#include <CLI/CLI.hpp>

#include <cctype>
#include <cmath>
#include <limits>

#include "metrics/metrics.h"
#include "version.h"

namespace selfconnect {

namespace {

constexpr uint32_t kMaxPid = 4194304;            // PID_MAX_LIMIT on 64-bit
constexpr double kMaxSeconds = 1e9;              // ~31 years
constexpr uint64_t kMaxRingBytes = 1ULL << 30;   // 1 GiB

std::string first_line(const std::string& s)
{
    return s.substr(0, s.find('\n'));
}

// Numbers are taken as strings and checked here, so that "-1", "1e99",
// "12abc" and "" all get the same kind of one-line answer.
uint64_t checked_uint(const std::string& name, const std::string& text, uint64_t lo, uint64_t hi)
{
    size_t used = 0;
    unsigned long long v = 0;
    bool ok = !text.empty() && std::isdigit(static_cast<unsigned char>(text[0]));
    if (ok) {
        try {
            v = std::stoull(text, &used, 10);
        } catch (const std::exception&) {
            ok = false;
        }
    }
    if (!ok || used != text.size() || v < lo || v > hi)
        throw CLI::ValidationError(name, "must be a whole number from " + std::to_string(lo) + " to " +
                                             std::to_string(hi) + ", not '" + text + "'");
    return v;
}

template <typename T>
CLI::Option* add_checked_uint(CLI::App& app, const std::string& name, std::optional<T>& target, uint64_t lo,
                              uint64_t hi, const std::string& help)
{
    return app
        .add_option_function<std::string>(
            name, [&target, name, lo, hi](const std::string& text) { target = static_cast<T>(checked_uint(name, text, lo, hi)); },
            help)
        ->type_name("N");
}

CLI::Option* add_checked_seconds(CLI::App& app, const std::string& name, std::optional<double>& target,
                                 const std::string& help)
{
    return app
        .add_option_function<std::string>(
            name,
            [&target, name](const std::string& text) {
                size_t used = 0;
                double v = 0;
                bool ok = !text.empty() && !std::isspace(static_cast<unsigned char>(text[0]));
                if (ok) {
                    try {
                        v = std::stod(text, &used);
                    } catch (const std::exception&) {
                        ok = false;
                    }
                }
                if (!ok || used != text.size() || !std::isfinite(v) || v <= 0 || v > kMaxSeconds)
                    throw CLI::ValidationError(name, "must be a number of seconds above 0 and at most 1e9, not '" +
                                                         text + "'");
                target = v;
            },
            help)
        ->type_name("SECONDS");
}

// --netns INODE, repeatable; each value checked like every other number.
CLI::Option* add_netns_option(CLI::App& app, std::vector<uint32_t>& target, const std::string& help)
{
    return app
        .add_option_function<std::vector<std::string>>(
            "--netns",
            [&target](const std::vector<std::string>& values) {
                for (const std::string& text : values)
                    target.push_back(static_cast<uint32_t>(
                        checked_uint("--netns", text, 1, std::numeric_limits<uint32_t>::max())));
            },
            help)
        ->type_name("INODE")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

}  // namespace

std::optional<uint32_t> parse_byte_size(const std::string& s)
{
    if (s.empty() || !isdigit(static_cast<unsigned char>(s[0])))
        return std::nullopt;
    size_t used = 0;
    unsigned long long v = 0;
    try {
        v = std::stoull(s, &used, 10);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    const std::string suffix = s.substr(used);
    unsigned long long scale = 1;
    if (suffix == "K" || suffix == "k")
        scale = 1024;
    else if (suffix == "M" || suffix == "m")
        scale = 1024 * 1024;
    else if (!suffix.empty())
        return std::nullopt;
    if (v > kMaxRingBytes / scale)
        return std::nullopt;
    return static_cast<uint32_t>(v * scale);
}

namespace {

// Watch's numbers as given, checked and defaulted once parsing is done.
struct WatchNumbers {
    std::optional<uint64_t> count;
    std::optional<uint32_t> pid;
    std::optional<uint16_t> port;
    std::optional<uint32_t> retry_threshold;
    std::optional<double> retry_window;
    std::optional<uint32_t> protect_max;
};

// Where container and pod names are read; both commands take them.
void add_name_options(CLI::App& command, NameOptions& n)
{
    command.add_option("--runtime-socket", n.runtime_sockets,
                       "A Docker API socket to read container names from (Docker, podman); may be given more than "
                       "once (default: /run/docker.sock, /run/podman/podman.sock where present)")
        ->type_name("PATH");
    command.add_option("--containerd-state", n.containerd_states,
                       "A containerd state folder to read container and pod names from; may be given more than once "
                       "(default: /run/containerd, /run/k3s/containerd where present)")
        ->type_name("DIR");
    command.add_flag("--no-container-names", n.off, "Do not ask container runtimes for names");
}

CLI::App* add_watch_command(CLI::App& app, WatchOptions& w, WatchNumbers& n)
{
    auto* watch = app.add_subcommand("watch", "Report every TCP self-connect on this host as it happens");
    watch->add_flag("--json", w.json, "One JSON object per line (NDJSON)");
    add_checked_seconds(*watch, "--duration", w.duration_seconds, "Stop after this many seconds");
    add_checked_uint(*watch, "--count", n.count, 1, std::numeric_limits<uint32_t>::max(),
                     "Stop after this many self_connect records (a command's repeats past 16 a second on a port are folded)");
    add_checked_uint(*watch, "--pid", n.pid, 1, kMaxPid, "Only self-connects made by this process id");
    watch
        ->add_option_function<std::string>(
            "--comm",
            [&w](const std::string& s) {
                if (s.empty() || s.size() > 15)
                    throw CLI::ValidationError("--comm", "must be a process name of 1 to 15 bytes");
                w.comm = s;
            },
            "Only self-connects made by processes with this name")
        ->type_name("NAME");
    add_checked_uint(*watch, "--port", n.port, 1, 65535, "Only records about this port (self-connects, loops, listeners)");
    add_netns_option(*watch, w.netns, "Only this network namespace (its inode); may be given more than once");
    watch
        ->add_option_function<std::string>(
            "--attach-mode",
            [&w](const std::string& s) {
                auto m = parse_attach_mode(s);
                if (!m)
                    throw CLI::ValidationError("--attach-mode", "must be auto, tp_btf or tracepoint, not '" + s + "'");
                w.attach_mode = *m;
            },
            "How to attach to inet_sock_set_state: auto (default), tp_btf or tracepoint")
        ->type_name("MODE");
    watch
        ->add_option_function<std::string>(
            "--ring-buffer-size",
            [&w](const std::string& s) {
                auto v = parse_byte_size(s);
                if (!v || *v < 4096 || (*v & (*v - 1)))
                    throw CLI::ValidationError("--ring-buffer-size",
                                               "must be a power of two from 4096 to 1G (e.g. 4096, 64K, 16M), not '" +
                                                   s + "'");
                w.ring_buffer_bytes = *v;
            },
            "Size of the kernel's event ring buffer (default 256K)")
        ->type_name("BYTES");
    add_checked_uint(*watch, "--retry-threshold", n.retry_threshold, 2, 1000000,
                     "Refused connects within the window that make a retry_loop warning (default 5)");
    add_checked_seconds(*watch, "--retry-window", n.retry_window, "The retry_loop window in seconds (default 10)");
    watch->add_flag("--kill", w.kill,
                    "Destroy each self-connected socket written (of folded repeats, the one open at each "
                    "self_connect_repeats record) (needs CAP_NET_ADMIN)");
    watch
        ->add_option_function<std::string>(
            "--metrics",
            [&w](const std::string& s) {
                if (!parse_listen_address(s))
                    throw CLI::ValidationError("--metrics", "must be ADDRESS:PORT (127.0.0.1:9464, [::1]:9464, :9464), not '" +
                                                                s + "'");
                w.metrics = s;
            },
            "Serve Prometheus metrics at http://ADDRESS:PORT/metrics")
        ->type_name("ADDRESS:PORT");
    watch
        ->add_option_function<std::string>(
            "--output",
            [&w](const std::string& s) {
                if (s.empty())
                    throw CLI::ValidationError("--output", "needs a file name");
                w.output = s;
            },
            "Append records to FILE instead of stdout; reopen it on SIGHUP (log rotation)")
        ->type_name("FILE");
    watch->add_flag("--protect", w.protect,
                    "Reserve the port of every listener at risk and every retry_loop in "
                    "net.ipv4.ip_local_reserved_ports of its namespace");
    add_checked_uint(*watch, "--protect-max", n.protect_max, 1, 65535,
                     "Ports --protect reserves per namespace at most (default 64)");
    watch->add_flag("--guard", w.guard,
                    "Make self-connects impossible: a SYN that meets itself on loopback is refused as a closed "
                    "port refuses it; nothing else about any connect() changes (tc on each namespace's "
                    "loopback; needs CAP_NET_ADMIN, and CAP_SYS_ADMIN and CAP_SYS_PTRACE for other "
                    "namespaces). Where the guard cannot run, say so and go on detecting");
    watch->add_flag("--require-guard", w.require_guard, "As --guard, but exit if the guard cannot run");
    add_name_options(*watch, w.names);
    watch->add_flag("--verbose", w.verbose, "Show libbpf's log");
    return watch;
}

void add_audit_command(CLI::App& app, AuditOptions& a)
{
    auto* audit = app.add_subcommand(
        "audit", "Find self-connected sockets and listeners exposed to self-connects now; exit 1 if any");
    audit->add_flag("--json", a.json, "One JSON object per line (NDJSON)");
    audit->add_flag("--kill", a.kill, "Destroy each self-connected socket found (needs CAP_NET_ADMIN)");
    audit->add_flag("--fix", a.fix,
                    "Apply each namespace's fix: add the ports at risk to its net.ipv4.ip_local_reserved_ports");
    add_netns_option(*audit, a.netns, "Only this network namespace (its inode); may be given more than once");
    add_name_options(*audit, a.names);
    audit->add_flag("--verbose", a.verbose, "Say more about what could not be read");
}

// One line on stderr and status 2.
Command usage_error(const std::string& sentence)
{
    Command cmd;
    cmd.exit_code = 2;
    cmd.output_is_error = true;
    cmd.output = "selfconnect: " + sentence + " (see 'selfconnect --help')\n";
    return cmd;
}

}  // namespace

Command parse_command_line(const std::vector<std::string>& args)
{
    Command cmd;
    CLI::App app{"selfconnect: detects TCP sockets connected to themselves (src addr:port == dst addr:port)",
                 "selfconnect"};
    app.set_version_flag("--version", std::string("selfconnect ") + kVersion);
    app.require_subcommand(1);
    WatchOptions& w = cmd.watch;
    WatchNumbers numbers;
    const CLI::App* watch = add_watch_command(app, w, numbers);
    add_audit_command(app, cmd.audit);

    std::vector<const char*> argv{"selfconnect"};
    for (const auto& s : args)
        argv.push_back(s.c_str());
    try {
        app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::CallForHelp&) {
        cmd.output = app.help();
        return cmd;
    } catch (const CLI::CallForAllHelp&) {
        cmd.output = app.help("", CLI::AppFormatMode::All);
        return cmd;
    } catch (const CLI::CallForVersion& e) {
        cmd.output = std::string("selfconnect ") + kVersion + "\n";
        return cmd;
    } catch (const CLI::ParseError& e) {
        return usage_error(first_line(e.what()));
    }

    if (numbers.protect_max && !w.protect)
        return usage_error("--protect-max needs --protect");
    w.count = numbers.count;
    w.pid = numbers.pid;
    w.port = numbers.port.value_or(0);
    w.protect_max = numbers.protect_max.value_or(w.protect_max);
    w.retry_threshold = numbers.retry_threshold.value_or(w.retry_threshold);
    w.retry_window_seconds = numbers.retry_window.value_or(w.retry_window_seconds);
    w.guard = w.guard || w.require_guard;
    cmd.kind = watch->parsed() ? Command::Kind::Watch : Command::Kind::Audit;
    return cmd;
}

}  // namespace selfconnect
