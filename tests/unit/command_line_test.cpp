#include <gtest/gtest.h>

#include "cli/command_line.h"

using namespace selfconnect;

namespace {

Command parse(std::vector<std::string> args) { return parse_command_line(args); }

void expect_rejected(std::vector<std::string> args, const std::string& mentions)
{
    const Command c = parse(args);
    EXPECT_EQ(c.kind, Command::Kind::Exit);
    EXPECT_EQ(c.exit_code, 2);
    EXPECT_TRUE(c.output_is_error);
    EXPECT_EQ(std::count(c.output.begin(), c.output.end(), '\n'), 1) << c.output;
    EXPECT_NE(c.output.find(mentions), std::string::npos) << c.output;
}

}  // namespace

TEST(Arguments, WatchTakesEveryDocumentedOption)
{
    const Command c = parse({"watch", "--json", "--duration", "2.5", "--count", "3", "--pid", "17", "--comm", "nc",
                             "--port", "44600", "--netns", "4026531840", "--attach-mode", "tracepoint",
                             "--ring-buffer-size", "64K", "--retry-threshold", "4", "--retry-window", "30"});
    ASSERT_EQ(c.kind, Command::Kind::Watch) << c.output;
    EXPECT_TRUE(c.watch.json);
    EXPECT_DOUBLE_EQ(*c.watch.duration_seconds, 2.5);
    EXPECT_EQ(*c.watch.count, 3u);
    EXPECT_EQ(*c.watch.pid, 17u);
    EXPECT_EQ(*c.watch.comm, "nc");
    EXPECT_EQ(c.watch.port, 44600);
    EXPECT_EQ(c.watch.netns, std::vector<uint32_t>{4026531840u});
    EXPECT_EQ(c.watch.attach_mode, AttachMode::Tracepoint);
    EXPECT_EQ(c.watch.ring_buffer_bytes, 65536u);
    EXPECT_EQ(c.watch.retry_threshold, 4u);
    EXPECT_DOUBLE_EQ(c.watch.retry_window_seconds, 30.0);
}

TEST(Arguments, NumbersOutOfTheirRangeAreRefusedWithTheOptionsName)
{
    expect_rejected({"watch", "--count", "0"}, "--count");
    expect_rejected({"watch", "--count", "-1"}, "--count");
    expect_rejected({"watch", "--count", "1.5"}, "--count");
    expect_rejected({"watch", "--count", "18446744073709551616"}, "--count");
    expect_rejected({"watch", "--port", "65536"}, "--port");
    expect_rejected({"watch", "--port", "0"}, "--port");
    expect_rejected({"watch", "--port", " 80"}, "--port");
    expect_rejected({"watch", "--pid", "4194305"}, "--pid");
    expect_rejected({"watch", "--duration", "0"}, "--duration");
    expect_rejected({"watch", "--duration", "inf"}, "--duration");
    expect_rejected({"watch", "--duration", "-1"}, "--duration");
    expect_rejected({"watch", "--ring-buffer-size", "12345"}, "--ring-buffer-size");
    expect_rejected({"watch", "--ring-buffer-size", "2048"}, "--ring-buffer-size");
}

TEST(Arguments, UnknownWordsAndMissingSubcommandsAreRefused)
{
    expect_rejected({}, "subcommand");
    expect_rejected({"watch", "--no-such-option"}, "--no-such-option");
    expect_rejected({"watch", "--attach-mode", "kprobe"}, "--attach-mode");
    expect_rejected({"audit", "--json", "extra"}, "extra");
}

TEST(Arguments, HelpAndVersionAreNotErrors)
{
    const Command help = parse({"--help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.output.find("watch"), std::string::npos);
    const Command version = parse({"--version"});
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_EQ(version.output.rfind("selfconnect ", 0), 0u);
}

TEST(Arguments, ByteSizesTakeKAndMSuffixes)
{
    EXPECT_EQ(parse_byte_size("4096"), 4096u);
    EXPECT_EQ(parse_byte_size("16M"), 16u << 20);
    EXPECT_FALSE(parse_byte_size("2G"));
    EXPECT_FALSE(parse_byte_size("-4K"));
    EXPECT_FALSE(parse_byte_size("4KB"));
}

TEST(Arguments, PreventionOptionsAndRepeatableNamespaces)
{
    const Command w = parse({"watch", "--protect", "--protect-max", "8", "--netns", "4026531840", "--netns",
                             "4026532177"});
    ASSERT_EQ(w.kind, Command::Kind::Watch) << w.output;
    EXPECT_TRUE(w.watch.protect);
    EXPECT_EQ(w.watch.protect_max, 8u);
    EXPECT_EQ(w.watch.netns, (std::vector<uint32_t>{4026531840u, 4026532177u}));
    EXPECT_EQ(parse({"watch", "--protect"}).watch.protect_max, 64u);

    const Command a = parse({"audit", "--fix", "--netns", "4026532177", "--netns", "4026532178"});
    ASSERT_EQ(a.kind, Command::Kind::Audit) << a.output;
    EXPECT_TRUE(a.audit.fix);
    EXPECT_EQ(a.audit.netns, (std::vector<uint32_t>{4026532177u, 4026532178u}));

    expect_rejected({"watch", "--protect-max", "8"}, "--protect");
    expect_rejected({"watch", "--protect", "--protect-max", "0"}, "--protect-max");
    expect_rejected({"audit", "--netns", "0"}, "--netns");
    expect_rejected({"audit", "--netns", "x1"}, "--netns");
    expect_rejected({"watch", "--netns", "4026531840", "--netns", "-3"}, "--netns");
}
