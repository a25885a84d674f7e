#include "metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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
    sample(out, "selfconnect_events_lost_total", "where=\"kernel_skipped\",kind=\"unknown\"", m.skipped_kernel_runs);
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

std::string http_response_for(const std::string& head, const Metrics& m)
{
    const auto line_end = head.find("\r\n");
    const std::string line = head.substr(0, line_end);
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
    auto reply = [](const char* status, const std::string& type, const std::string& body) {
        return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
               "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    };
    if (sp2 == std::string::npos || line.compare(sp2 + 1, 5, "HTTP/") != 0)
        return reply("400 Bad Request", "text/plain", "bad request\n");
    const std::string method = line.substr(0, sp1);
    std::string path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    path = path.substr(0, path.find('?'));
    if (method != "GET" && method != "HEAD")
        return reply("405 Method Not Allowed", "text/plain", "only GET\n");
    if (path != "/metrics")
        return reply("404 Not Found", "text/plain", "see /metrics\n");
    std::string response = reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", render_prometheus(m));
    if (method == "HEAD")
        response.resize(response.find("\r\n\r\n") + 4);
    return response;
}

MetricsServer::MetricsServer(const ListenAddress& where, const Metrics& metrics) : metrics_(metrics)
{
    sockaddr_storage addr{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (inet_pton(AF_INET, where.host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(where.port);
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, where.host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(where.port);
        len = sizeof(*v6);
    } else {
        throw std::runtime_error("--metrics: '" + where.host + "' is not an IP address");
    }
    listener_.reset(socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int one = 1;
    setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (!listener_ || bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listener_.get(), 16) != 0)
        throw std::runtime_error("cannot serve metrics on " + where.host + ":" + std::to_string(where.port) + ": " +
                                 strerror(errno));
    wake_.reset(eventfd(0, EFD_CLOEXEC));
    thread_ = std::thread([this] { serve(); });
}

MetricsServer::~MetricsServer()
{
    const uint64_t one = 1;
    (void)!write(wake_.get(), &one, sizeof(one));
    thread_.join();
}

void MetricsServer::serve()
{
    for (;;) {
        pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            return;
        if (fds[1].revents)
            return;
        if (!(fds[0].revents & POLLIN))
            continue;
        UniqueFd client(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (client)
            answer(client.get());
    }
}

void MetricsServer::answer(int client)
{
    // A scrape sends a short head; a slow or oversized one is dropped so that
    // no client can hold the server.
    const timeval timeout{2, 0};
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    std::string head;
    char buf[1024];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
        const ssize_t n = recv(client, buf, sizeof(buf), 0);
        if (n <= 0)
            return;
        head.append(buf, static_cast<size_t>(n));
    }
    const std::string response = http_response_for(head, metrics_);
    size_t sent = 0;
    while (sent < response.size()) {
        const ssize_t n = send(client, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        sent += static_cast<size_t>(n);
    }
}

}  // namespace selfconnect
