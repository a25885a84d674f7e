#include <gtest/gtest.h>

#include <sys/socket.h>

#include "records/text_format.h"

using namespace selfconnect;

TEST(AddressFormatting, ShowsEachFamilyTheWayPeopleWriteIt)
{
    uint8_t v4[16] = {127, 0, 0, 1};
    EXPECT_EQ(format_address(AF_INET, std::span<const uint8_t, 16>(v4, 16)), "127.0.0.1");
    uint8_t v6[16] = {};
    v6[15] = 1;
    EXPECT_EQ(format_address(AF_INET6, std::span<const uint8_t, 16>(v6, 16)), "::1");
    uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    EXPECT_EQ(format_address(AF_INET6, std::span<const uint8_t, 16>(mapped, 16)), "::ffff:127.0.0.1");
}

TEST(TimeFormatting, IsRfc3339UtcWithMicroseconds)
{
    using namespace std::chrono;
    const system_clock::time_point t{seconds(1'700'000'000) + microseconds(123'456)};
    EXPECT_EQ(format_rfc3339_utc(t), "2023-11-14T22:13:20.123456Z");
}

TEST(HostileProcessNames, ControlBytesAndEscapeSequencesCannotReachTheTerminal)
{
    EXPECT_EQ(escape_for_terminal("nc"), "nc");
    EXPECT_EQ(escape_for_terminal("\x1b[2J\x1b[31mfake"), "\\x1b[2J\\x1b[31mfake");
    EXPECT_EQ(escape_for_terminal("a\nb\tc\r"), "a\\nb\\tc\\x0d");
    EXPECT_EQ(escape_for_terminal("back\\slash"), "back\\\\slash");
    EXPECT_EQ(escape_for_terminal("del\x7f"), "del\\x7f");
    // C1 controls (U+009B is a one-byte CSI to some terminals)
    EXPECT_EQ(escape_for_terminal("\xc2\x9b" "2J"), "\\xc2\\x9b2J");
    // invalid UTF-8: a lone continuation byte, a truncated sequence, overlong
    EXPECT_EQ(escape_for_terminal("\x80x"), "\\x80x");
    EXPECT_EQ(escape_for_terminal("\xe2\x82"), "\\xe2\\x82");
    EXPECT_EQ(escape_for_terminal("\xc0\xaf"), "\\xc0\\xaf");
    // valid UTF-8 passes through
    EXPECT_EQ(escape_for_terminal("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
}

TEST(HostileProcessNames, Utf8ValidityIsJudgedStrictly)
{
    EXPECT_TRUE(is_valid_utf8("plain"));
    EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80"));
    EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));  // surrogate
    EXPECT_FALSE(is_valid_utf8("\xff"));
    EXPECT_EQ(to_hex("\xff\x01"), "ff01");
}
