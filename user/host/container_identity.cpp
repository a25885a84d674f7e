#include "host/container_identity.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace selfconnect {

namespace {

bool ends_with(std::string_view s, std::string_view tail)
{
    return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// "docker-ID.scope", "cri-containerd-ID.scope", "crio-ID", "libpod-ID", "ID".
// Conmon's own scopes (libpod-conmon-ID, crio-conmon-ID) are not containers.
std::optional<std::string> container_id_in(std::string_view part)
{
    if (ends_with(part, ".scope"))
        part.remove_suffix(6);
    if (part.size() < 64 || part.find("conmon-") != std::string_view::npos)
        return std::nullopt;
    const std::string_view id = part.substr(part.size() - 64);
    const std::string_view prefix = part.substr(0, part.size() - 64);
    static constexpr std::string_view kPrefixes[] = {"", "docker-", "cri-containerd-", "crio-", "libpod-"};
    if (!is_hex_id(id) || std::find(std::begin(kPrefixes), std::end(kPrefixes), prefix) == std::end(kPrefixes))
        return std::nullopt;
    return std::string(id);
}

bool is_uuid(std::string_view s)
{
    if (s.size() != 36)
        return false;
    for (size_t i = 0; i < s.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i])))
            return false;
    }
    return true;
}

// "podUID" (cgroupfs) or "kubepods-QOS-podUID.slice", "kubepods-podUID.slice" (systemd).
std::optional<std::string> pod_uid_in(std::string_view part)
{
    if (ends_with(part, ".slice")) {
        part.remove_suffix(6);
        const auto at = part.rfind("-pod");
        if (part.rfind("kubepods", 0) != 0 || at == std::string_view::npos)
            return std::nullopt;
        part = part.substr(at + 1);
    }
    if (part.rfind("pod", 0) != 0)
        return std::nullopt;
    std::string uid(part.substr(3));
    std::replace(uid.begin(), uid.end(), '_', '-');
    if (!is_uuid(uid))
        return std::nullopt;
    return uid;
}

}  // namespace

bool is_hex_id(std::string_view s)
{
    return s.size() == 64 &&
           std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f'); });
}

ContainerIdentity container_identity_of(std::string_view path)
{
    std::vector<std::string_view> parts;
    for (size_t at = 0; at < path.size();) {
        const size_t end = std::min(path.find('/', at), path.size());
        if (end > at)
            parts.push_back(path.substr(at, end - at));
        at = end + 1;
    }
    ContainerIdentity id;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (!id.container_id)
            id.container_id = container_id_in(*it);
        if (!id.pod_uid && id.container_id)
            id.pod_uid = pod_uid_in(*it);
    }
    return id;
}

}  // namespace selfconnect
