#include "metrics.h"

#include <httplib.h>

#include <stdexcept>

#include "version.h"

namespace selfconnect {

namespace {

void family(std::string& out, const char* name, const char* type, const char* help)
{
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const char* name, const std::string& labels, uint64_t value)
{
    out += name;
    if (!labels.empty())
        out += "{" + labels + "}";
    out += " " + std::to_string(value) + "\n";
}

}  // namespace

std::string render_prometheus(const Metrics& m)
{
    std::string out;
    family(out, "selfconnect_self_connects_total", "counter", "TCP sockets seen connecting to themselves.");
    sample(out, "selfconnect_self_connects_total", "family=\"ipv4\"", m.self_connects_ipv4);
    sample(out, "selfconnect_self_connects_total", "family=\"ipv6\"", m.self_connects_ipv6);
    family(out, "selfconnect_self_connects_closed_total", "counter", "Self-connected sockets seen closing.");
    sample(out, "selfconnect_self_connects_closed_total", "", m.self_connects_closed);
    family(out, "selfconnect_retry_loop_warnings_total", "counter",
           "Clients warned of for retrying a refused port they could be handed.");
    sample(out, "selfconnect_retry_loop_warnings_total", "", m.retry_loop_warnings);
    family(out, "selfconnect_kills_total", "counter", "Self-connected sockets destroyed by --kill, by result.");
    sample(out, "selfconnect_kills_total", "result=\"ok\"", m.kills_ok);
    sample(out, "selfconnect_kills_total", "result=\"failed\"", m.kills_failed);
    family(out, "selfconnect_events_lost_total", "counter",
           "Events lost: in the kernel when its ring buffer was full, in userspace when undecodable.");
    sample(out, "selfconnect_events_lost_total", "where=\"kernel\",kind=\"self_connect\"", m.lost_kernel_self_connects);
    sample(out, "selfconnect_events_lost_total", "where=\"kernel\",kind=\"self_connect_closed\"", m.lost_kernel_closes);
    sample(out, "selfconnect_events_lost_total", "where=\"kernel\",kind=\"connect_refused\"", m.lost_kernel_refusals);
    sample(out, "selfconnect_events_lost_total", "where=\"userspace\",kind=\"any\"", m.lost_userspace);
    family(out, "selfconnect_attach_mode", "gauge", "How the program is attached to inet_sock_set_state.");
    sample(out, "selfconnect_attach_mode", "mode=\"" + m.attach_mode + "\"", 1);
    family(out, "selfconnect_build_info", "gauge", "The running build.");
    sample(out, "selfconnect_build_info", std::string("version=\"") + kVersion + "\"", 1);
    return out;
}

std::optional<ListenAddress> parse_listen_address(const std::string& text)
{
    const auto colon = text.rfind(':');
    if (colon == std::string::npos)
        return std::nullopt;
    std::string host = text.substr(0, colon);
    const std::string port = text.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    const unsigned long p = std::stoul(port);
    if (p == 0 || p > 65535)
        return std::nullopt;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    else if (host.find(':') != std::string::npos)
        return std::nullopt;  // a bare IPv6 address needs brackets
    if (host.empty())
        host = "0.0.0.0";
    return ListenAddress{host, static_cast<uint16_t>(p)};
}

struct MetricsServer::Impl {
    httplib::Server server;
};

MetricsServer::MetricsServer(const ListenAddress& where, const Metrics& metrics) : impl_(std::make_unique<Impl>())
{
    impl_->server.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
        res.set_content(render_prometheus(metrics), "text/plain; version=0.0.4; charset=utf-8");
    });
    if (!impl_->server.bind_to_port(where.host, where.port))
        throw std::runtime_error("cannot serve metrics on " + where.host + ":" + std::to_string(where.port));
    thread_ = std::thread([this] { impl_->server.listen_after_bind(); });
}

MetricsServer::~MetricsServer()
{
    impl_->server.stop();
    if (thread_.joinable())
        thread_.join();
}

}  // namespace selfconnect
