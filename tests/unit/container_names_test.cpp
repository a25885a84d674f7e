// Container and pod names: what the runtimes' answers say, and the namer
// that asks them off the records' path.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "host/unique_fd.h"
#include "records/container_namer.h"

using namespace selfconnect;
using namespace std::chrono_literals;

TEST(RuntimeNames, DockerGivesTheNameOrTheKubeletsLabels)
{
    auto plain = names_from_docker_json(R"({"Id":"abc","Name":"/web","Config":{"Labels":{}}})");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->container_name, "web");
    EXPECT_FALSE(plain->pod_name);
    auto pod = names_from_docker_json(
        R"({"Name":"/k8s_app_web-0_shop_uid_0","Config":{"Labels":{"io.kubernetes.container.name":"app",)"
        R"("io.kubernetes.pod.name":"web-0","io.kubernetes.pod.namespace":"shop"}}})");
    ASSERT_TRUE(pod);
    EXPECT_EQ(pod->container_name, "app");
    EXPECT_EQ(pod->pod_name, "web-0");
    EXPECT_EQ(pod->pod_namespace, "shop");
    EXPECT_FALSE(names_from_docker_json("not json"));
    EXPECT_FALSE(names_from_docker_json(R"({"message":"No such container"})"));
}

TEST(RuntimeNames, ContainerdsSpecGivesTheCriAnnotationsOrTheId)
{
    auto cri = names_from_oci_spec(
        R"({"annotations":{"io.kubernetes.cri.container-name":"app","io.kubernetes.cri.sandbox-name":"web-0",)"
        R"("io.kubernetes.cri.sandbox-namespace":"shop"}})",
        "id1");
    ASSERT_TRUE(cri);
    EXPECT_EQ(cri->container_name, "app");
    EXPECT_EQ(cri->pod_name, "web-0");
    EXPECT_EQ(cri->pod_namespace, "shop");
    auto bare = names_from_oci_spec(R"({"ociVersion":"1.0.2"})", "id1");
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->container_name, "id1");
    EXPECT_FALSE(bare->pod_name);
    // Docker's containers seen in containerd's moby namespace: no name
    // beyond the id the record already carries.
    EXPECT_FALSE(names_from_oci_spec(R"({"ociVersion":"1.0.2"})", std::string(64, 'a')));
}

namespace {

// A runtime that knows one container, answers slowly, or cannot be reached.
class FakeSource : public NameSource {
public:
    FakeSource(bool reachable, std::chrono::milliseconds delay) : reachable_(reachable), delay_(delay) {}
    std::optional<ContainerNames> names_of(const std::string& id) override
    {
        ++asked;
        std::this_thread::sleep_for(delay_);
        if (!reachable_)
            throw RuntimeUnreachable("down");
        if (id != "known")
            return std::nullopt;
        return ContainerNames{"web", "web-0", "shop"};
    }
    std::vector<KnownContainer> list() override { return {}; }
    std::unique_ptr<RuntimeEvents> follow() override { return nullptr; }
    std::string where() const override { return "a fake runtime"; }
    std::atomic<int> asked{0};

private:
    bool reachable_;
    std::chrono::milliseconds delay_;
};

}  // namespace

// A record never waits in watch: the first asks, later ones get the names.
// However slow the runtime, names_of() returns at once.
TEST(ContainerNamer, AnswersFromItsCacheAndAsksOffThePath)
{
    auto source = std::make_unique<FakeSource>(true, 300ms);
    FakeSource* fake = source.get();
    std::vector<std::unique_ptr<NameSource>> sources;
    sources.push_back(std::move(source));
    ContainerNamer namer(std::move(sources));
    namer.start();
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(namer.names_of("known"));
    EXPECT_FALSE(namer.names_of("known"));  // asked once, still pending
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms) << "a lookup held up the caller";
    std::optional<ContainerNames> names;
    for (int i = 0; i < 50 && !names; ++i) {
        std::this_thread::sleep_for(20ms);
        names = namer.names_of("known");
    }
    ASSERT_TRUE(names);
    EXPECT_EQ(names->container_name, "web");
    EXPECT_EQ(fake->asked, 1);
    // audit waits, a bounded time.
    auto waited = namer.names_of("unknown", 2s);
    EXPECT_FALSE(waited);
    EXPECT_EQ(fake->asked, 2);
}

TEST(ContainerNamer, AnUnreachableRuntimeLeavesTheIdAlone)
{
    std::vector<std::unique_ptr<NameSource>> sources;
    sources.push_back(std::make_unique<FakeSource>(false, 0ms));
    ContainerNamer namer(std::move(sources));
    namer.start();
    testing::internal::CaptureStderr();
    EXPECT_FALSE(namer.names_of("a", 1s));
    EXPECT_FALSE(namer.names_of("b", 1s));
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "said more than once:\n" << err;
    EXPECT_NE(err.find("cannot read container names from a fake runtime"), std::string::npos) << err;
}

TEST(RuntimeNames, DockersListingGivesEachRunningContainerWithItsNames)
{
    const auto known = containers_from_docker_list(
        R"([{"Id":"a1","Names":["/web"],"Labels":{}},)"
        R"({"Id":"b2","Names":["/k8s_app_web-0"],"Labels":{"io.kubernetes.container.name":"app",)"
        R"("io.kubernetes.pod.name":"web-0","io.kubernetes.pod.namespace":"shop"}},)"
        R"({"Id":"c3","Names":[]},{"Names":["/no-id"]},"junk"])");
    ASSERT_EQ(known.size(), 2u);
    EXPECT_EQ(known[0].id, "a1");
    EXPECT_EQ(known[0].names.container_name, "web");
    EXPECT_EQ(known[1].names.container_name, "app");
    EXPECT_EQ(known[1].names.pod_namespace, "shop");
    EXPECT_TRUE(containers_from_docker_list("not json").empty());
}

TEST(RuntimeNames, DockerEventsTellOfContainersMadeRenamedAndRemoved)
{
    auto made = change_from_docker_event(
        R"({"status":"create","id":"a1","Type":"container","Action":"create","Actor":{"ID":"a1","Attributes":{"name":"web"}}})");
    ASSERT_TRUE(made);
    EXPECT_EQ(made->kind, RuntimeChange::Kind::Appeared);
    EXPECT_EQ(made->id, "a1");
    auto renamed = change_from_docker_event(R"({"Type":"container","Action":"rename","Actor":{"ID":"a1"}})");
    ASSERT_TRUE(renamed);
    EXPECT_EQ(renamed->kind, RuntimeChange::Kind::Appeared);
    auto gone = change_from_docker_event(R"({"Type":"container","Action":"destroy","Actor":{"ID":"a1"}})");
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->kind, RuntimeChange::Kind::Gone);
    auto removed = change_from_docker_event(R"({"Type":"container","Action":"remove","Actor":{"ID":"a1"}})");
    ASSERT_TRUE(removed);  // podman's compatible service
    EXPECT_EQ(removed->kind, RuntimeChange::Kind::Gone);
    // start follows create: asked about once, at create.
    EXPECT_FALSE(change_from_docker_event(R"({"Type":"container","Action":"start","Actor":{"ID":"a1"}})"));
    EXPECT_FALSE(change_from_docker_event(R"({"Type":"container","Action":"exec_start: bash","Actor":{"ID":"a1"}})"));
    EXPECT_FALSE(change_from_docker_event(R"({"Type":"network","Action":"create","Actor":{"ID":"n1"}})"));
    EXPECT_FALSE(change_from_docker_event(""));
}

// ctr puts a container at /NAMESPACE/ID; runc's systemd form is
// SLICE:PREFIX:NAME, under the slice's ancestors.
TEST(RuntimeNames, ContainerdsSpecSaysWhereTheContainersCgroupIs)
{
    auto ctr = container_from_oci_spec(R"({"linux":{"cgroupsPath":"/default/api-ctr"}})", "api-ctr");
    ASSERT_TRUE(ctr);
    EXPECT_EQ(ctr->cgroup_path, "/default/api-ctr");
    EXPECT_EQ(ctr->names.container_name, "api-ctr");
    auto systemd = container_from_oci_spec(
        R"({"linux":{"cgroupsPath":"kubepods-besteffort-pod1.slice:cri-containerd:abc"}})", "abc");
    ASSERT_TRUE(systemd);
    EXPECT_EQ(systemd->cgroup_path,
              "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-abc.scope");
    auto system_slice = container_from_oci_spec(R"({"linux":{"cgroupsPath":"system.slice:docker:abc"}})", "abc");
    ASSERT_TRUE(system_slice);
    EXPECT_EQ(system_slice->cgroup_path, "/system.slice/docker-abc.scope");
    auto default_slice = container_from_oci_spec(R"({"linux":{"cgroupsPath":":cri-containerd:abc"}})", "abc");
    ASSERT_TRUE(default_slice);
    EXPECT_EQ(default_slice->cgroup_path, "/system.slice/cri-containerd-abc.scope");
    auto none = container_from_oci_spec(R"({"linux":{}})", "x");
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->cgroup_path);
    EXPECT_FALSE(container_from_oci_spec("{", "x"));
}

namespace {

// A runtime whose containers and changes the test sets: its change stream
// is a pipe the test writes a byte to when changes wait.
class ScriptedSource : public NameSource {
public:
    explicit ScriptedSource(std::string where) : where_(std::move(where)) {}
    std::optional<ContainerNames> names_of(const std::string& id) override
    {
        std::lock_guard<std::mutex> lock(mutex);
        for (const auto& c : running)
            if (c.id == id)
                return c.names;
        return std::nullopt;
    }
    std::vector<KnownContainer> list() override
    {
        std::lock_guard<std::mutex> lock(mutex);
        ++listed;
        return running;
    }
    std::unique_ptr<RuntimeEvents> follow() override
    {
        int fds[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
            throw RuntimeUnreachable("pipe");
        std::lock_guard<std::mutex> lock(mutex);
        write_end = UniqueFd(fds[1]);
        ++followed;
        return std::make_unique<Stream>(this, UniqueFd(fds[0]));
    }
    std::string where() const override { return where_; }

    // Tells the namer of a change.
    void tell(RuntimeChange change)
    {
        std::lock_guard<std::mutex> lock(mutex);
        waiting.push_back(std::move(change));
        [[maybe_unused]] ssize_t n = write(write_end.get(), "x", 1);
    }
    // Ends the stream, as a runtime that restarts does.
    void end()
    {
        std::lock_guard<std::mutex> lock(mutex);
        write_end.reset();
    }

    std::mutex mutex;
    std::vector<KnownContainer> running;
    std::vector<RuntimeChange> waiting;
    UniqueFd write_end;
    int listed = 0;
    int followed = 0;

private:
    struct Stream : RuntimeEvents {
        Stream(ScriptedSource* s, UniqueFd fd) : source(s), read_end(std::move(fd)) {}
        int fd() const override { return read_end.get(); }
        std::vector<RuntimeChange> read() override
        {
            char buf[64];
            const ssize_t n = ::read(read_end.get(), buf, sizeof(buf));
            if (n == 0)
                throw RuntimeStreamEnded("ended");
            std::lock_guard<std::mutex> lock(source->mutex);
            return std::exchange(source->waiting, {});
        }
        ScriptedSource* source;
        UniqueFd read_end;
    };
    std::string where_;
};

template <typename Probe>
bool soon(Probe probe, std::chrono::milliseconds within = 2s)
{
    for (int i = 0; i < within / 10ms; ++i) {
        if (probe())
            return true;
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

}  // namespace

// The containers running at the start, and those made later, are named on
// their first record: no lookup waits for a record to ask.
TEST(ContainerNamer, NamesContainersRunningAtTheStartAndMadeLaterOnTheirFirstRecord)
{
    auto source = std::make_unique<ScriptedSource>("a scripted runtime");
    ScriptedSource* runtime = source.get();
    runtime->running.push_back(KnownContainer{"old", {"db", std::nullopt, std::nullopt}, std::nullopt});
    std::vector<std::unique_ptr<NameSource>> sources;
    sources.push_back(std::move(source));
    ContainerNamer namer(std::move(sources));
    namer.start(ContainerNamer::Changes::Followed);
    namer.wait_for_running(2s);
    auto old = namer.names_of("old");
    ASSERT_TRUE(old) << "a container running at the start was not named on its first record";
    EXPECT_EQ(old->container_name, "db");

    // Made later, told of by the runtime's stream before its first record.
    runtime->tell(RuntimeChange{RuntimeChange::Kind::Appeared, "new",
                                KnownContainer{"new", {"web", "web-0", "shop"}, "/default/new"}});
    ASSERT_TRUE(soon([&] { return namer.container_at("/default/new/init.scope").has_value(); }));
    auto made = namer.names_of("new");
    ASSERT_TRUE(made);
    EXPECT_EQ(made->pod_name, "web-0");
    EXPECT_FALSE(namer.container_at("/default/other"));
    EXPECT_FALSE(namer.container_at("/default"));

    // Told of by id alone: the namer asks the runtime.
    {
        std::lock_guard<std::mutex> lock(runtime->mutex);
        runtime->running.push_back(KnownContainer{"byid", {"api", std::nullopt, std::nullopt}, std::nullopt});
    }
    runtime->tell(RuntimeChange{RuntimeChange::Kind::Appeared, "byid", std::nullopt});
    ASSERT_TRUE(soon([&] { return namer.names_of("byid").has_value(); }));

    // A second container put at the same path (by hand) names it; once it
    // is gone, the first does again.
    runtime->tell(RuntimeChange{RuntimeChange::Kind::Appeared, "twin",
                                KnownContainer{"twin", {"twin", std::nullopt, std::nullopt}, "/default/new"}});
    ASSERT_TRUE(soon([&] { return namer.container_at("/default/new").value_or(KnownContainer{}).id == "twin"; }));
    runtime->tell(RuntimeChange{RuntimeChange::Kind::Gone, "twin", std::nullopt});
    ASSERT_TRUE(soon([&] { return namer.container_at("/default/new").value_or(KnownContainer{}).id == "new"; }));

    // Gone: forgotten, with its path.
    runtime->tell(RuntimeChange{RuntimeChange::Kind::Gone, "new", std::nullopt});
    ASSERT_TRUE(soon([&] { return !namer.container_at("/default/new"); }));
}

// A runtime that restarts ends its stream: it is followed again, and what
// it runs read again, so a container made while it was away is named.
TEST(ContainerNamer, ARuntimeThatRestartsIsFollowedAgainAndReadAgain)
{
    auto source = std::make_unique<ScriptedSource>("a scripted runtime");
    ScriptedSource* runtime = source.get();
    std::vector<std::unique_ptr<NameSource>> sources;
    sources.push_back(std::move(source));
    ContainerNamer namer(std::move(sources));
    testing::internal::CaptureStderr();
    namer.start(ContainerNamer::Changes::Followed);
    namer.wait_for_running(2s);
    {
        std::lock_guard<std::mutex> lock(runtime->mutex);
        runtime->running.push_back(
            KnownContainer{"while-away", {"cache", std::nullopt, std::nullopt}, "/default/while-away"});
    }
    runtime->end();
    ASSERT_TRUE(soon([&] { return namer.container_at("/default/while-away").has_value(); }))
        << "not read again after its stream ended";
    // Removed while it was away: forgotten when it is read again.
    {
        std::lock_guard<std::mutex> lock(runtime->mutex);
        runtime->running.clear();
    }
    runtime->end();
    // (followed again after 2 s: a stream that ends soon again waits longer)
    ASSERT_TRUE(soon([&] { return !namer.container_at("/default/while-away"); }, 5s))
        << "a container gone while its runtime was away was kept";
    std::lock_guard<std::mutex> lock(runtime->mutex);
    EXPECT_EQ(runtime->followed, 3);
    EXPECT_EQ(runtime->listed, 3);
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << "a restart that was followed again is not a failure";
}

// A host that made more containers than are kept: the oldest are forgotten,
// and a container made later is still named on its first record.
TEST(ContainerNamer, AFullCacheMakesRoomForTheNextContainer)
{
    auto source = std::make_unique<ScriptedSource>("a scripted runtime");
    ScriptedSource* runtime = source.get();
    for (int i = 0; i < 20000; ++i)
        runtime->running.push_back(KnownContainer{"c" + std::to_string(i), {"n", std::nullopt, std::nullopt}, std::nullopt});
    std::vector<std::unique_ptr<NameSource>> sources;
    sources.push_back(std::move(source));
    ContainerNamer namer(std::move(sources));
    namer.start(ContainerNamer::Changes::Followed);
    namer.wait_for_running(10s);
    runtime->tell(RuntimeChange{RuntimeChange::Kind::Appeared, "late",
                                KnownContainer{"late", {"web", std::nullopt, std::nullopt}, std::nullopt}});
    EXPECT_TRUE(soon([&] { return namer.names_of("late").has_value(); }));
    EXPECT_TRUE(namer.names_of("c19999").has_value());
}

// Docker's containers are containerd's too (namespace moby), where their
// spec names them by id alone: the source named first says.
TEST(ContainerNamer, AnEarlierSourceOutranksALaterOneForTheSameContainer)
{
    auto docker = std::make_unique<ScriptedSource>("docker");
    auto containerd = std::make_unique<ScriptedSource>("containerd");
    ScriptedSource* later = containerd.get();
    docker->running.push_back(KnownContainer{"c1", {"web", "web-0", "shop"}, std::nullopt});
    std::vector<std::unique_ptr<NameSource>> sources;
    sources.push_back(std::move(docker));
    sources.push_back(std::move(containerd));
    ContainerNamer namer(std::move(sources));
    namer.start(ContainerNamer::Changes::Followed);
    namer.wait_for_running(2s);
    later->tell(RuntimeChange{RuntimeChange::Kind::Appeared, "c1", KnownContainer{"c1", {"c1", std::nullopt, std::nullopt}, "/moby/c1"}});
    later->tell(RuntimeChange{RuntimeChange::Kind::Gone, "c1", std::nullopt});
    std::this_thread::sleep_for(200ms);
    auto names = namer.names_of("c1");
    ASSERT_TRUE(names);
    EXPECT_EQ(names->container_name, "web");
}

namespace {

// A scratch folder, removed with what it holds.
struct ScratchDir {
    ScratchDir()
    {
        char tmpl[] = "/tmp/sc-names-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~ScratchDir() { std::filesystem::remove_all(path); }
    std::string path;
};

void write_file(const std::string& path, const std::string& text)
{
    std::ofstream(path) << text;
}

}  // namespace

// containerd's real layout on a real folder, followed through inotify: a
// bundle made later (its spec written after its folder, as containerd
// does), a namespace made later, and a bundle removed.
TEST(ContainerdState, BundlesAreListedAndFollowedAsContainerdWritesThem)
{
    ScratchDir state;
    const std::string tasks = state.path + "/io.containerd.runtime.v2.task";
    std::filesystem::create_directories(tasks + "/k8s.io/running1");
    write_file(tasks + "/k8s.io/running1/config.json",
               R"({"annotations":{"io.kubernetes.cri.container-name":"app"},"linux":{"cgroupsPath":"/k8s.io/running1"}})");
    auto source = containerd_state_source(state.path);
    auto events = source->follow();
    const auto running = source->list();
    ASSERT_EQ(running.size(), 1u);
    EXPECT_EQ(running[0].names.container_name, "app");

    auto changes_within = [&](size_t want) {
        std::vector<RuntimeChange> all;
        for (int i = 0; i < 200 && all.size() < want; ++i) {
            for (auto& c : events->read())
                all.push_back(std::move(c));
            std::this_thread::sleep_for(10ms);
        }
        return all;
    };
    std::filesystem::create_directories(tasks + "/k8s.io/made-later");
    std::this_thread::sleep_for(50ms);  // the folder's event read before its spec is written
    EXPECT_TRUE(events->read().empty());
    write_file(tasks + "/k8s.io/made-later/config.json", R"({"linux":{"cgroupsPath":"/k8s.io/made-later"}})");
    auto changes = changes_within(1);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].kind, RuntimeChange::Kind::Appeared);
    ASSERT_TRUE(changes[0].known);
    EXPECT_EQ(changes[0].known->cgroup_path, "/k8s.io/made-later");

    // A namespace made later, its first bundle at once.
    std::filesystem::create_directories(tasks + "/selfconnect-test/api-ctr");
    write_file(tasks + "/selfconnect-test/api-ctr/config.json", R"({"linux":{"cgroupsPath":"/selfconnect-test/api-ctr"}})");
    changes = changes_within(1);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].id, "api-ctr");

    std::filesystem::remove_all(tasks + "/k8s.io/made-later");
    changes = changes_within(1);
    ASSERT_GE(changes.size(), 1u);
    EXPECT_EQ(changes.back().kind, RuntimeChange::Kind::Gone);
    EXPECT_EQ(changes.back().id, "made-later");

    // A bundle being removed (renamed .ID first) is no container; a FIFO
    // where a spec should be is not read (it would block for ever).
    std::filesystem::create_directories(tasks + "/k8s.io/.removing");
    write_file(tasks + "/k8s.io/.removing/config.json", R"({"linux":{"cgroupsPath":"/k8s.io/removing"}})");
    std::filesystem::create_directories(tasks + "/k8s.io/fifo");
    ASSERT_EQ(mkfifo((tasks + "/k8s.io/fifo/config.json").c_str(), 0600), 0);
    std::this_thread::sleep_for(100ms);
    for (const auto& c : events->read())
        ADD_FAILURE() << "a change for " << c.id;
    for (const auto& c : source->list())
        EXPECT_TRUE(c.id == "running1" || c.id == "api-ctr") << c.id;

    // The folder itself gone: the stream ends.
    std::filesystem::remove_all(tasks);
    EXPECT_THROW(changes_within(100), RuntimeUnreachable);
}

namespace {

// A Docker API of the test's own on a Unix socket: answers a listing, an
// inspect, and an event stream the test writes to.
class FakeDockerApi {
public:
    FakeDockerApi() : path_(dir_.path + "/docker.sock")
    {
        listener_ = UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
        if (bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(listener_.get(), 8) != 0)
            std::abort();
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeDockerApi()
    {
        shutdown(listener_.get(), SHUT_RDWR);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (events_)
                shutdown(events_.get(), SHUT_RDWR);
        }
        thread_.join();
    }
    const std::string& path() const { return path_; }
    // Writes one event line to the stream, once a client follows it.
    bool send_event(const std::string& line)
    {
        if (!soon([&] {
                std::lock_guard<std::mutex> lock(mutex_);
                return static_cast<bool>(events_);
            }))
            return false;
        std::lock_guard<std::mutex> lock(mutex_);
        const std::string text = line + "\n";
        return send(events_.get(), text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
    }
    void end_events()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        events_.reset();
    }

private:
    void serve()
    {
        for (;;) {
            UniqueFd client(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!client)
                return;
            std::string request;
            char c;
            while (request.find("\r\n\r\n") == std::string::npos && recv(client.get(), &c, 1, 0) == 1)
                request.push_back(c);
            auto answer = [&](const std::string& status, const std::string& body) {
                const std::string text = "HTTP/1.0 " + status + "\r\nContent-Type: application/json\r\n\r\n" + body;
                [[maybe_unused]] ssize_t n = send(client.get(), text.data(), text.size(), MSG_NOSIGNAL);
            };
            if (request.rfind("GET /events?", 0) == 0) {
                answer("200 OK", "");
                std::lock_guard<std::mutex> lock(mutex_);
                events_ = std::move(client);
            } else if (request.rfind("GET /containers/json ", 0) == 0) {
                answer("200 OK", R"([{"Id":"running1","Names":["/db"],"Labels":{}}])");
            } else if (request.rfind("GET /containers/made1/json ", 0) == 0) {
                answer("200 OK", R"({"Id":"made1","Name":"/web-0-app","Config":{"Labels":{"io.kubernetes.container.name":"app",)"
                                 R"("io.kubernetes.pod.name":"web-0","io.kubernetes.pod.namespace":"shop"}}})");
            } else {
                answer("404 Not Found", R"({"message":"No such container"})");
            }
        }
    }

    ScratchDir dir_;
    std::string path_;
    UniqueFd listener_;
    std::mutex mutex_;
    UniqueFd events_;
    std::thread thread_;
};

}  // namespace

// The Docker API source over a real Unix socket: the listing, then the
// event stream (split across writes, other events among them), then its end.
TEST(DockerApi, RunningContainersAreListedAndNewOnesFollowedThroughTheEventStream)
{
    FakeDockerApi api;
    auto source = docker_api_source(api.path());
    auto events = source->follow();
    const auto running = source->list();
    ASSERT_EQ(running.size(), 1u);
    EXPECT_EQ(running[0].names.container_name, "db");
    ASSERT_TRUE(api.send_event(R"({"Type":"network","Action":"connect","Actor":{"ID":"n1"}})"));
    ASSERT_TRUE(api.send_event(R"({"status":"create","id":"made1","Type":"container","Action":"create","Actor":{"ID":"made1"}})"));
    std::vector<RuntimeChange> changes;
    ASSERT_TRUE(soon([&] {
        for (auto& c : events->read())
            changes.push_back(std::move(c));
        return !changes.empty();
    }));
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].id, "made1");
    auto names = source->names_of(changes[0].id);
    ASSERT_TRUE(names);
    EXPECT_EQ(names->pod_name, "web-0");
    EXPECT_FALSE(source->names_of("unknown"));
    api.end_events();
    EXPECT_TRUE(soon([&] {
        try {
            events->read();
            return false;
        } catch (const RuntimeUnreachable& e) {
            return std::string(e.what()).find("ended its stream") != std::string::npos;
        }
    }));
}
