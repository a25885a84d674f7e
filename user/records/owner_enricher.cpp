#include "records/owner_enricher.h"

#include "host/container_identity.h"

namespace selfconnect {

void OwnerEnricher::enrich(Owner& o)
{
    if (!o.known)
        return;
    o.cgroup_path = o.cgroup_id ? paths_.path_of(o.cgroup_id) : cgroup_path_of_pid(o.pid);
    const ContainerIdentity c = container_identity_of(o.cgroup_path);
    o.container_id = c.container_id;
    o.pod_uid = c.pod_uid;
}

void OwnerEnricher::enrich(Record& r)
{
    enrich(r.owner);
    if (r.holder)
        enrich(r.holder->owner);
}

}  // namespace selfconnect
