// Container and pod names: what the runtimes' answers say, and the namer
// that asks them off the records' path.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

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
