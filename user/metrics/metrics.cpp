#include "metrics/metrics.h"

#include <stdexcept>

#include "host/port_set.h"
#include "metrics/exposition.h"
#include "records/event_kinds.h"
#include "version.h"

namespace selfconnect {

namespace {

using exposition::family;
using exposition::sample;

}  // namespace

std::string render_prometheus(const Metrics& m)
{
    std::string out;
    family(out, "selfconnect_self_connects_total", "counter", "TCP sockets seen connecting to themselves.");
    sample(out, "selfconnect_self_connects_total", "family=\"ipv4\"",
           m.self_connects_ipv4 + m.self_connects_folded_ipv4);
    sample(out, "selfconnect_self_connects_total", "family=\"ipv6\"",
           m.self_connects_ipv6 + m.self_connects_folded_ipv6);
    family(out, "selfconnect_self_connects_folded_total", "counter",
           "Of those, self-connects past the first 16 a second of one command on one port: counted, and "
           "written together as self_connect_repeats.");
    sample(out, "selfconnect_self_connects_folded_total", "", m.self_connects_folded_ipv4 + m.self_connects_folded_ipv6);
    family(out, "selfconnect_self_connects_closed_total", "counter", "Self-connected sockets seen closing (closes of folded self-connects are not written or counted here).");
    sample(out, "selfconnect_self_connects_closed_total", "", m.self_connects_closed);
    family(out, "selfconnect_retry_loop_warnings_total", "counter",
           "Clients warned of for retrying a refused port they could be handed.");
    sample(out, "selfconnect_retry_loop_warnings_total", "", m.retry_loop_warnings);
    family(out, "selfconnect_kills_total", "counter", "Self-connected sockets destroyed by --kill, by result.");
    sample(out, "selfconnect_kills_total", "result=\"ok\"", m.kills_ok);
    sample(out, "selfconnect_kills_total", "result=\"failed\"", m.kills_failed);
    family(out, "selfconnect_events_lost_total", "counter",
           "Events lost: in the kernel when its ring buffer was full, in userspace when undecodable.");
    for (const EventKind& k : kEventKinds)
        sample(out, "selfconnect_events_lost_total", "where=\"kernel\",kind=\"" + std::string(k.metric_label) + "\"",
               m.lost_kernel_by_kind[k.number]);
    sample(out, "selfconnect_events_lost_total", "where=\"holder_lookup\",kind=\"port_in_use\"",
           m.lost_holder_lookups);
    sample(out, "selfconnect_events_lost_total", "where=\"userspace\",kind=\"any\"", m.lost_userspace);
    sample(out, "selfconnect_events_lost_total", "where=\"kernel_skipped\",kind=\"unknown\"", m.skipped_kernel_runs);
    sample(out, "selfconnect_events_lost_total", "where=\"output\",kind=\"any\"", m.lost_output);
    sample(out, "selfconnect_events_lost_total", "where=\"unknown_kind\",kind=\"unknown\"", m.lost_unknown_kinds);
    sample(out, "selfconnect_events_lost_total", "where=\"open_count\",kind=\"self_connect\"",
           m.lost_open_count_self_connects);
    sample(out, "selfconnect_events_lost_total", "where=\"open_count\",kind=\"self_connect_closed\"",
           m.lost_open_count_closes);
    family(out, "selfconnect_ports_reserved_total", "counter",
           "Ports reserved by --protect in ip_local_reserved_ports, by reason; failed: not reserved.");
    sample(out, "selfconnect_ports_reserved_total", "reason=\"listener_at_risk\"", m.ports_reserved_listener);
    sample(out, "selfconnect_ports_reserved_total", "reason=\"retry_loop\"", m.ports_reserved_retry_loop);
    sample(out, "selfconnect_ports_reserved_total", "reason=\"failed\"", m.ports_reserve_failed);
    family(out, "selfconnect_listeners_blocked_total", "counter",
           "bind() or listen() refused because a connected socket held the port.");
    sample(out, "selfconnect_listeners_blocked_total", "", m.listeners_blocked);
    family(out, "selfconnect_connect_refusals_folded_total", "counter",
           "Refused connects to a port of the range past the first 16 a second of one user on one port: "
           "counted, not reported one by one.");
    sample(out, "selfconnect_connect_refusals_folded_total", "", m.refusals_folded);
    family(out, "selfconnect_self_connects_prevented_total", "counter",
           "connect()s whose SYN met itself on loopback, refused by --guard as a closed port refuses.");
    sample(out, "selfconnect_self_connects_prevented_total", "", m.self_connects_prevented);
    family(out, "selfconnect_guard_missed_total", "counter",
           "connect()s that could have met themselves whose SYN no guard saw (their namespace had none yet).");
    sample(out, "selfconnect_guard_missed_total", "", m.guard_missed);
    family(out, "selfconnect_guard_namespaces", "gauge",
           "Network namespaces by whether --guard is on their loopback (guarded) or could not be (failed).");
    sample(out, "selfconnect_guard_namespaces", "state=\"guarded\"", m.guard_namespaces);
    sample(out, "selfconnect_guard_namespaces", "state=\"failed\"", m.guard_namespaces_failed);
    family(out, "selfconnect_listeners_at_risk", "gauge",
           "Listeners now on an unreserved port of their namespace's ephemeral range.");
    sample(out, "selfconnect_listeners_at_risk", "", m.listeners_at_risk);
    family(out, "selfconnect_self_connects_open", "gauge", "Self-connected sockets now open (seen, not yet closed).");
    sample(out, "selfconnect_self_connects_open", "", m.self_connects_open + m.self_connects_open_unwritten);
    family(out, "selfconnect_attach_mode", "gauge", "How the program is attached to inet_sock_set_state.");
    sample(out, "selfconnect_attach_mode", "mode=\"" + m.attach_mode + "\"", 1);
    family(out, "selfconnect_build_info", "gauge", "The running build.");
    sample(out, "selfconnect_build_info", std::string("version=\"") + kVersion + "\"", 1);
    m.risk_map.render(out);
    return out;
}

std::optional<ListenAddress> parse_listen_address(const std::string& text)
{
    const auto colon = text.rfind(':');
    if (colon == std::string::npos)
        return std::nullopt;
    std::string host = text.substr(0, colon);
    const std::optional<uint16_t> port = parse_port_number(text.substr(colon + 1));
    if (!port || *port == 0)
        return std::nullopt;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    else if (host.find(':') != std::string::npos)
        return std::nullopt;  // a bare IPv6 address needs brackets
    if (host.empty())
        host = "0.0.0.0";
    return ListenAddress{host, *port};
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

}  // namespace selfconnect
