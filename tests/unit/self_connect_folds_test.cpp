// SelfConnectFolds against a table that stands in for the kernel's: what
// a loop folded is written once, when the loop stops or every ten seconds
// while it goes on, with how many and over how long; nothing is counted
// twice, and idle keys are forgotten on both sides.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>

#include "watch/self_connect_folds.h"

using namespace selfconnect;

namespace {

constexpr uint64_t kSecond = 1'000'000'000ULL;

class TableOfTest final : public FoldTable {
public:
    std::optional<sc_fold> read(const sc_command_port& key) override
    {
        auto it = folds.find(bytes(key));
        return it == folds.end() ? std::nullopt : std::optional<sc_fold>(it->second);
    }
    void forget(const sc_command_port& key) override
    {
        folds.erase(bytes(key));
        ++forgotten;
    }
    void fold(const Record& r, uint64_t folded, uint64_t last_ns, uint64_t made_ns = 0)
    {
        sc_command_port key{};
        key.netns = r.netns;
        key.uid = r.owner.uid;
        key.port = r.port;
        key.family = r.family;
        std::memcpy(key.comm, r.owner.comm.data(), r.owner.comm.size());
        folds[bytes(key)] = sc_fold{{0, 0}, folded, last_ns, made_ns};
    }
    static std::string bytes(const sc_command_port& k) { return std::string(reinterpret_cast<const char*>(&k), sizeof(k)); }
    std::map<std::string, sc_fold> folds;
    int forgotten = 0;
};

Record self_connect(uint64_t mono_ns, const std::string& comm = "nc", uint16_t port = 5000)
{
    Record r;
    r.facts = SelfConnectFacts{};
    r.mono_ns = mono_ns;
    r.owner.known = true;
    r.owner.pid = 812;
    r.owner.uid = 65534;
    r.owner.comm = comm;
    r.netns = 4026531840;
    r.family = AF_INET;
    r.addr = "127.0.0.1";
    r.port = port;
    return r;
}

}  // namespace

TEST(SelfConnectFolds, AStoppedLoopIsWrittenOnceWithHowManyAndOverHowLong)
{
    TableOfTest table;
    SelfConnectFolds folds;
    folds.written(self_connect(10 * kSecond));
    table.fold(self_connect(0), 5000, 10 * kSecond + kSecond / 2);
    EXPECT_TRUE(folds.due(table, 10 * kSecond + kSecond / 2).empty()) << "read a second after the record";
    EXPECT_TRUE(folds.due(table, 11 * kSecond).empty()) << "folded half a second ago: the loop may go on";
    const auto written = folds.due(table, 12 * kSecond);
    ASSERT_EQ(written.size(), 1u);
    EXPECT_EQ(written[0].type(), RecordType::SelfConnectRepeats);
    EXPECT_EQ(written[0].as<SelfConnectRepeatsFacts>().repeats, 5000u);
    EXPECT_EQ(written[0].as<SelfConnectRepeatsFacts>().since_mono_ns, 10 * kSecond);
    EXPECT_DOUBLE_EQ(written[0].as<SelfConnectRepeatsFacts>().span_seconds, 0.5);
    EXPECT_EQ(written[0].owner.comm, "nc");
    EXPECT_TRUE(folds.due(table, 20 * kSecond).empty()) << "written once";
}

TEST(SelfConnectFolds, ALoopThatGoesOnIsWrittenEveryTenSecondsAndNothingTwice)
{
    TableOfTest table;
    SelfConnectFolds folds;
    uint64_t written = 0, records = 0;
    for (uint64_t s = 1; s <= 30; ++s) {
        folds.written(self_connect(s * kSecond));  // the first of each second
        table.fold(self_connect(0), s * 1000, s * kSecond + kSecond / 8);
        for (const Record& r : folds.due(table, s * kSecond + kSecond / 4)) {
            written += r.as<SelfConnectRepeatsFacts>().repeats;
            ++records;
        }
    }
    for (const Record& r : folds.due(table, 40 * kSecond, true))
        written += r.as<SelfConnectRepeatsFacts>().repeats;
    EXPECT_EQ(written, 30'000u) << "every fold written, once";
    EXPECT_GE(records, 2u);
    EXPECT_LE(records, 3u) << "one record every ten seconds";
}

TEST(SelfConnectFolds, AtTheEndEveryFoldIsWritten)
{
    TableOfTest table;
    SelfConnectFolds folds;
    folds.written(self_connect(kSecond));
    table.fold(self_connect(0), 42, kSecond + 1000);
    const auto written = folds.due(table, kSecond + 2000, true);
    ASSERT_EQ(written.size(), 1u);
    EXPECT_EQ(written[0].as<SelfConnectRepeatsFacts>().repeats, 42u);
}

TEST(SelfConnectFolds, AKeyTheKernelForgotCountsAgainFromZero)
{
    TableOfTest table;
    SelfConnectFolds folds;
    folds.written(self_connect(kSecond));
    table.fold(self_connect(0), 100, kSecond + 1000);
    ASSERT_EQ(folds.due(table, 3 * kSecond).at(0).as<SelfConnectRepeatsFacts>().repeats, 100u);
    folds.written(self_connect(5 * kSecond));
    table.fold(self_connect(0), 7, 5 * kSecond + 1000, 5 * kSecond);  // a new entry
    ASSERT_EQ(folds.due(table, 7 * kSecond).at(0).as<SelfConnectRepeatsFacts>().repeats, 7u);
    folds.written(self_connect(9 * kSecond));
    table.fold(self_connect(0), 150, 9 * kSecond + 1000, 9 * kSecond);  // another, above the old count
    ASSERT_EQ(folds.due(table, 11 * kSecond).at(0).as<SelfConnectRepeatsFacts>().repeats, 150u);
}

TEST(SelfConnectFolds, KeysPastTheLimitAreWrittenAndForgottenOldestFirst)
{
    TableOfTest table;
    SelfConnectFolds folds;
    const size_t keys = SelfConnectFolds::kMaxTracked + 10;
    for (size_t i = 0; i < keys; ++i) {
        const Record r = self_connect(kSecond + i, "sc-" + std::to_string(i));
        folds.written(r);
        table.fold(r, 1, kSecond + i);
    }
    const auto written = folds.due(table, kSecond + keys);  // none due yet: only the oldest go
    EXPECT_LE(folds.tracked(), SelfConnectFolds::kMaxTracked);
    EXPECT_EQ(written.size(), keys - folds.tracked()) << "each forgotten key's folds written first";
    EXPECT_EQ(written.front().owner.comm.substr(0, 3), "sc-");
    EXPECT_EQ(table.forgotten, static_cast<int>(written.size()));
    uint64_t oldest_kept = UINT64_MAX;
    for (size_t i = 0; i < keys; ++i)
        if (table.folds.count(TableOfTest::bytes([&] {
                sc_command_port k{};
                const Record r = self_connect(0, "sc-" + std::to_string(i));
                k.netns = r.netns;
                k.uid = r.owner.uid;
                k.port = r.port;
                k.family = r.family;
                std::memcpy(k.comm, r.owner.comm.data(), r.owner.comm.size());
                return k;
            }())))
            oldest_kept = std::min<uint64_t>(oldest_kept, i);
    EXPECT_EQ(oldest_kept, written.size()) << "the oldest were forgotten";
}

TEST(SelfConnectFolds, OtherCommandsAndUnknownOwnersAreTheirOwn)
{
    TableOfTest table;
    SelfConnectFolds folds;
    Record unknown = self_connect(kSecond, "ghost");
    unknown.owner.known = false;
    folds.written(unknown);
    folds.written(self_connect(kSecond, "victim", 5002));
    EXPECT_EQ(folds.tracked(), 1u) << "an owner not known was never folded";
    table.fold(self_connect(0, "nc", 5002), 10, kSecond);  // another command's
    EXPECT_TRUE(folds.due(table, 5 * kSecond, true).empty());
}

TEST(SelfConnectFolds, AnIdleKeyIsForgottenHereAndInTheKernel)
{
    TableOfTest table;
    SelfConnectFolds folds;
    folds.written(self_connect(kSecond));
    table.fold(self_connect(0), 3, kSecond + 10);
    ASSERT_EQ(folds.due(table, 3 * kSecond).size(), 1u);
    EXPECT_TRUE(folds.due(table, 30 * kSecond).empty());
    EXPECT_EQ(folds.tracked(), 1u);
    EXPECT_TRUE(folds.due(table, 62 * kSecond).empty());
    EXPECT_EQ(folds.tracked(), 0u);
    EXPECT_EQ(table.forgotten, 1);
    EXPECT_TRUE(table.folds.empty());
}
