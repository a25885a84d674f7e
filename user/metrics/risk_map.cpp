#include "metrics/risk_map.h"

#include "metrics/exposition.h"
#include "records/text_format.h"

namespace selfconnect {

namespace {

struct KindText {
    const char* name;
    const char* map;  // the label of selfconnect_risk_series_left_out
    const char* help;
};

constexpr std::array<KindText, kRiskKinds> kKinds = {{
    {"selfconnect_listener_in_range_info", "listeners",
     "A listener on a port of its network namespace's ephemeral range: reserved=\"false\" is at risk (a client "
     "can be handed its port), reserved=\"true\" is fixed."},
    {"selfconnect_self_connect_open_info", "self_connects", "A TCP socket connected to itself, open now."},
    {"selfconnect_retry_loop_info", "retry_loops",
     "A client refused again and again on a port of the range of its own address, warned of, not quiet for a "
     "retry window."},
}};

// A label value as Prometheus reads it: valid UTF-8 (a process may name
// itself with any bytes; one invalid byte would fail the whole scrape),
// then its own escapes.
std::string label_value(const std::string& raw)
{
    std::string out;
    for (char c : escape_for_terminal(raw)) {
        if (c == '\\' || c == '"')
            out += '\\';
        out += c;
    }
    return out;
}

void add(RiskLabels& labels, const char* name, std::string value)
{
    if (!value.empty())
        labels.emplace_back(name, std::move(value));
}

}  // namespace

RiskLabels risk_labels(const Record& r, bool reserved)
{
    RiskLabels labels;
    add(labels, "netns", std::to_string(r.netns));
    add(labels, "address", r.addr);
    add(labels, "port", std::to_string(r.port));
    // Two self-connects on one address and port, bound to two devices, are
    // two series, even of one process. (A retry loop is a command's on a
    // port, whichever device each refusal was bound to.)
    if (r.bound_ifindex && r.type() == RecordType::SelfConnect)
        add(labels, "bound_ifindex", std::to_string(r.bound_ifindex));
    if (r.owner.known) {
        add(labels, "pid", std::to_string(r.owner.pid));
        add(labels, "comm", r.owner.comm);
    }
    add(labels, "container_id", r.owner.container_id.value_or(""));
    add(labels, "container_name", r.owner.container_name.value_or(""));
    add(labels, "pod_name", r.owner.pod_name.value_or(""));
    add(labels, "pod_namespace", r.owner.pod_namespace.value_or(""));
    if (const auto* listener = r.if_is<ListenerAtRiskFacts>()) {
        if (listener->port_chosen_by_kernel)
            add(labels, "port_chosen_by", *listener->port_chosen_by_kernel ? "kernel" : "program");
        add(labels, "reserved", reserved ? "true" : "false");
    }
    return labels;
}

void RiskMap::replace(RiskKind kind, std::vector<RiskLabels> shown, size_t left_out)
{
    const size_t k = static_cast<size_t>(kind);
    if (shown.size() > max_) {
        left_out += shown.size() - max_;
        shown.resize(max_);
    }
    std::lock_guard lock(mutex_);
    series_[k] = std::move(shown);
    left_out_[k] = left_out;
}

void RiskMap::render(std::string& out) const
{
    std::lock_guard lock(mutex_);
    for (size_t k = 0; k < kRiskKinds; ++k) {
        exposition::family(out, kKinds[k].name, "gauge", kKinds[k].help);
        for (const RiskLabels& labels : series_[k]) {
            std::string written;
            for (const auto& [name, value] : labels)
                written += (written.empty() ? "" : ",") + name + "=\"" + label_value(value) + "\"";
            exposition::sample(out, kKinds[k].name, written, 1);
        }
    }
    exposition::family(out, "selfconnect_risk_series_left_out", "gauge",
                       "Series of the risk map left out past its bound of " + std::to_string(max_) + " a kind.");
    for (size_t k = 0; k < kRiskKinds; ++k)
        exposition::sample(out, "selfconnect_risk_series_left_out", std::string("map=\"") + kKinds[k].map + "\"",
                           left_out_[k]);
}

}  // namespace selfconnect
