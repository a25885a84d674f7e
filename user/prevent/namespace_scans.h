// Reading every namespace asked for (audit's, watch's scans), on as many
// threads as the host has cores.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "host/netns.h"
#include "prevent/risk_scan.h"

namespace selfconnect {

struct NamespaceScan {
    uint32_t inode = 0;
    const NetnsHandle* ns = nullptr;
    std::optional<NamespaceRisks> risks;  // nothing: it could not be read,
    std::string error;                    // and why
};

// Each namespace of `namespaces` that `only` selects (every one when
// empty), scanned by `scanner`, in the order of `namespaces` (by inode).
// With `census`, each namespace where the census rules out a self-connect
// is asked for its listeners alone.
std::vector<NamespaceScan> scan_namespaces(const RiskScanner& scanner,
                                           const std::map<uint32_t, NetnsHandle>& namespaces,
                                           const std::vector<uint32_t>& only, const CensusSource& census);

}  // namespace selfconnect
