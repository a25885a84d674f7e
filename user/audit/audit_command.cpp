#include "audit/audit_command.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <map>
#include <cstring>

#include "prevent/namespace_scans.h"
#include "host/capabilities.h"
#include "host/descriptor_limit.h"
#include "host/netns.h"
#include "host/sock_diag.h"
#include "kernel/socket_census.h"
#include "prevent/fix_policy.h"
#include "prevent/reserved_ports.h"
#include "prevent/risk_scan.h"
#include "records/line_writer.h"
#include "records/owner_enricher.h"
#include "records/record_sink.h"

namespace selfconnect {

namespace {

struct Findings {
    std::vector<Record> records;
    uint64_t self_connects = 0;
    uint64_t listeners = 0;
    uint64_t kill_failures = 0;
    uint64_t fix_failures = 0;
};

// --kill: destroys each self-connected socket of the namespace.
void kill_self_connects(const NetnsHandle& ns, NamespaceRisks& risks, Findings& out)
{
    std::optional<SockDiag> diag;
    for (Finding& f : risks.findings) {
        auto* self_connect = f.record.if_is<SelfConnectFacts>();
        if (!self_connect)
            continue;
        if (!diag)
            diag.emplace(ns.fd.get());
        const int err = diag->destroy(f.socket);
        self_connect->kill = KillOutcome{err == 0, err ? strerror(err) : ""};
        if (err)
            ++out.kill_failures;
    }
}

// --fix: one port_reserved record for each port the fix added.
void apply_fix(const NetnsHandle& ns, const NamespaceRisks& risks, Findings& out)
{
    const ReserveResult result = reserve_ports(ns.fd.get(), risks.reserve);
    for (const Finding& f : risks.findings) {
        const uint16_t port = f.record.port;
        if (risks.policy.reserved.test(port) || !risks.reserve.test(port))
            continue;
        const ReserveReason reason = f.record.type() == RecordType::ListenerAtRisk ? ReserveReason::ListenerAtRisk
                                                                                 : ReserveReason::SelfConnect;
        out.records.push_back(port_reserved_record(risks.netns, port, reason, result));
    }
    if (result.error)
        ++out.fix_failures;
}

void audit_namespace(NamespaceRisks& risks, OwnerEnricher& enricher, const NetnsHandle& ns, const AuditOptions& o,
                     Findings& out)
{
    for (Finding& f : risks.findings) {
        enricher.enrich(f.record.owner);
        if (auto* listener = f.record.if_is<ListenerAtRiskFacts>();
            listener && keeps_pod_fix(f.record) && port_worth_reserving(f.record))
            listener->pod_fix = pod_spec_sysctl(risks.reserve);
    }
    if (o.kill)
        kill_self_connects(ns, risks, out);
    for (const Finding& f : risks.findings) {
        out.records.push_back(f.record);
        ++(f.record.type() == RecordType::ListenerAtRisk ? out.listeners : out.self_connects);
    }
    if (o.fix && risks.needs_fix())
        apply_fix(ns, risks, out);
}

}  // namespace

int run_audit(const AuditOptions& o)
{
    if (!may_administer_system()) {
        std::fprintf(stderr, "selfconnect: not privileged enough: audit needs CAP_SYS_ADMIN to enter every "
                             "network namespace; run as root\n");
        return 2;
    }
    if (o.kill)
        if (auto missing = missing_kill_capabilities()) {
            std::fprintf(stderr, "selfconnect: %s\n", missing->c_str());
            return 2;
        }
    use_the_hard_descriptor_limit();  // a descriptor for each namespace, held at once
    Findings findings;
    size_t namespaces = 0;
    std::map<std::string, std::vector<uint32_t>> skipped;  // why -> namespaces
    try {
        RiskScanner scanner;
        OwnerEnricher enricher;
        // A one-shot report waits for names, a second at most each.
        ContainerNamer namer(name_sources(o.names));
        namer.start();
        namer.wait_for_running(std::chrono::seconds(1));
        enricher.use_namer(&namer, std::chrono::seconds(1));
        const std::map<uint32_t, NetnsHandle> all = list_network_namespaces();
        // The census spares the walks of the namespaces where it rules a
        // self-connect out. One it could not take is said, once.
        const CensusSource census = [] {
            TakenCensus taken = take_tcp_census();
            if (taken.failure)
                std::fprintf(stderr, "selfconnect: no socket census (%s): every namespace's whole socket table "
                                     "is read\n", taken.failure->c_str());
            return std::move(taken.census);
        };
        // Read all first (at once), then reported, killed and fixed one
        // namespace after another, in the order of their inodes as before.
        for (NamespaceScan& scan : scan_namespaces(scanner, all, o.netns, census)) {
            if (!scan.risks) {
                skipped[scan.error].push_back(scan.inode);
                continue;
            }
            try {
                audit_namespace(*scan.risks, enricher, *scan.ns, o, findings);
                ++namespaces;
            } catch (const std::exception& e) {
                // --kill or --fix could not enter it after all.
                skipped[e.what()].push_back(scan.inode);
            }
        }
        // Said always, one line a reason, and an error: an audit that could
        // not read a namespace found nothing there, which is not "nothing
        // found". With --fix, one left unfixed is a fix that failed.
        for (const auto& [why, inodes] : skipped) {
            if (inodes.size() == 1)
                std::fprintf(stderr, "selfconnect: skipped netns %u: %s\n", inodes.front(), why.c_str());
            else
                std::fprintf(stderr, "selfconnect: skipped %zu network namespaces (netns %u and others): %s\n",
                             inodes.size(), inodes.front(), why.c_str());
        }
        std::signal(SIGPIPE, SIG_IGN);
        LineWriter out(STDOUT_FILENO);
        const AuditReport report{namespaces, findings.self_connects, findings.listeners, findings.records};
        make_sink(o.json ? OutputForm::Json : OutputForm::Text, out)->write_audit(report);
    } catch (const OutputClosed&) {
    } catch (const std::exception& e) {
        std::fprintf(stderr, "selfconnect: %s\n", e.what());
        return 2;
    }
    if (findings.kill_failures || findings.fix_failures || !skipped.empty())
        return 2;
    if (o.fix)
        return 0;  // every namespace's fix applied: nothing is left at risk
    return findings.records.empty() ? 0 : 1;
}

}  // namespace selfconnect
