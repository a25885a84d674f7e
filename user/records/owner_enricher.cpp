#include "records/owner_enricher.h"

#include "host/container_identity.h"

namespace selfconnect {

void OwnerEnricher::enrich(Owner& o)
{
    if (!o.known)
        return;
    o.cgroup_path = o.cgroup_id ? paths_.path_of(o.cgroup_id) : "";
    // No cgroup v2 mount to look the id up in (a container's own /sys/fs/cgroup
    // on a hybrid host), or a scan's owner: the process's own line, which
    // names the same cgroup while it runs (with the host's PID namespace).
    if (o.cgroup_path.empty())
        o.cgroup_path = cgroup_path_of_pid(o.pid);
    const ContainerIdentity c = container_identity_of(o.cgroup_path);
    o.container_id = c.container_id;
    o.pod_uid = c.pod_uid;
    if (!namer_)
        return;
    std::optional<ContainerNames> names;
    if (o.container_id) {
        names = namer_->names_of(*o.container_id, wait_);
    } else if (auto c = namer_->container_at(o.cgroup_path)) {
        // Not a path any runtime numbers, but one a runtime said it put a
        // container at (`ctr run NAME`).
        o.container_id = c->id;
        names = std::move(c->names);
    }
    if (!names)
        return;
    o.container_name = names->container_name;
    o.pod_name = names->pod_name;
    o.pod_namespace = names->pod_namespace;
}

void OwnerEnricher::enrich(Record& r)
{
    enrich(r.owner);
    if (auto* blocked = r.if_is<ListenerBlockedFacts>(); blocked && blocked->holder)
        enrich(blocked->holder->owner);
}

}  // namespace selfconnect
