// Records for the journal: each field of a record's JSON form is a journal
// field of its own, entries of any size reach journald's socket whole (a
// sealed memfd past one datagram), and a journald that does not take them
// leaves each line on stdout rather than losing it.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>

#include "host/journal_socket.h"
#include "host/unique_fd.h"
#include "records/journal_entry.h"
#include "records/journal_sink.h"
#include "records/record.h"
#include "records/record_json.h"

using namespace selfconnect;

namespace {

// journald's side of the protocol: NAME=value lines, or NAME, '\n', a
// 64-bit little-endian length, the bytes and '\n'.
std::multimap<std::string, std::string> parse_entry(const std::string& entry)
{
    std::multimap<std::string, std::string> fields;
    size_t at = 0;
    while (at < entry.size()) {
        const size_t eol = entry.find('\n', at);
        EXPECT_NE(eol, std::string::npos) << "an unterminated field";
        if (eol == std::string::npos)
            break;
        const std::string line = entry.substr(at, eol - at);
        const size_t eq = line.find('=');
        if (eq != std::string::npos) {
            fields.emplace(line.substr(0, eq), line.substr(eq + 1));
            at = eol + 1;
            continue;
        }
        uint64_t size = 0;
        for (int byte = 0; byte < 8; ++byte)
            size |= uint64_t(static_cast<unsigned char>(entry.at(eol + 1 + byte))) << (8 * byte);
        fields.emplace(line, entry.substr(eol + 9, size));
        EXPECT_EQ(entry.at(eol + 9 + size), '\n');
        at = eol + 10 + size;
    }
    return fields;
}

std::string only(const std::multimap<std::string, std::string>& fields, const std::string& name)
{
    EXPECT_EQ(fields.count(name), 1u) << name;
    auto it = fields.find(name);
    return it == fields.end() ? "" : it->second;
}

// A journald of the test's own: a datagram socket bound in a folder of its own.
struct FakeJournald {
    std::string dir;
    std::string path;
    UniqueFd fd;
    explicit FakeJournald(bool listening = true)
    {
        char tmpl[] = "/tmp/sc-journal-XXXXXX";
        dir = mkdtemp(tmpl);
        path = dir + "/socket";
        if (listening)
            listen();
    }
    void listen()
    {
        fd.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strcpy(a.sun_path, path.c_str());
        EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    }
    ~FakeJournald()
    {
        unlink(path.c_str());
        rmdir(dir.c_str());
    }
    // The next entry, as journald would read it (from the memfd if one came).
    std::string receive(bool* by_memfd = nullptr)
    {
        std::string buf(1 << 16, '\0');
        iovec iov{buf.data(), buf.size()};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = control;
        m.msg_controllen = sizeof(control);
        const ssize_t n = recvmsg(fd.get(), &m, MSG_CMSG_CLOEXEC);
        EXPECT_GE(n, 0) << "nothing was sent";
        if (n < 0)
            return "";
        cmsghdr* c = CMSG_FIRSTHDR(&m);
        if (by_memfd)
            *by_memfd = c != nullptr;
        if (!c) {
            buf.resize(static_cast<size_t>(n));
            return buf;
        }
        EXPECT_EQ(n, 0) << "a memfd comes in an empty datagram";
        int received = -1;
        std::memcpy(&received, CMSG_DATA(c), sizeof(int));
        UniqueFd file(received);
        const int needed = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;
        EXPECT_EQ(fcntl(file.get(), F_GET_SEALS) & needed, needed) << "journald takes only a sealed memfd";
        struct stat st {};
        EXPECT_EQ(fstat(file.get(), &st), 0);
        std::string entry(static_cast<size_t>(st.st_size), '\0');
        EXPECT_EQ(pread(file.get(), entry.data(), entry.size(), 0), st.st_size);
        return entry;
    }
};

Record self_connect_of_nc()
{
    Record r;
    r.time = std::chrono::system_clock::time_point(std::chrono::seconds(1764990000));
    r.owner.known = true;
    r.owner.pid = 4242;
    r.owner.tid = 4242;
    r.owner.comm = "nc";
    r.owner.cgroup_path = "/system.slice/app.service";
    r.netns = 4026531840u;
    r.family = AF_INET;
    r.addr = "127.0.0.1";
    r.port = 44600;
    r.range_lo = 32768;
    r.range_hi = 60999;
    r.facts = SelfConnectFacts{};
    return r;
}

}  // namespace

TEST(JournalEntry, EachFieldOfARecordIsAJournalFieldOfItsOwn)
{
    const nlohmann::json record = {{"type", "listener_blocked"},
                                   {"port", 40516},
                                   {"self_connected", true},
                                   {"cgroup_path", nullptr},
                                   {"ephemeral_range", {40000, 41999}},
                                   {"holder", {{"pid", 77}, {"comm", "bash"}}}};
    const auto fields = parse_entry(journal_entry(record, "the line"));
    EXPECT_EQ(only(fields, "MESSAGE"), "the line");
    EXPECT_EQ(only(fields, "PRIORITY"), "3");
    EXPECT_EQ(only(fields, "SYSLOG_IDENTIFIER"), "selfconnect");
    EXPECT_EQ(only(fields, "SYSLOG_FACILITY"), "3");
    EXPECT_EQ(only(fields, "SELFCONNECT_TYPE"), "listener_blocked");
    EXPECT_EQ(only(fields, "SELFCONNECT_PORT"), "40516");
    EXPECT_EQ(only(fields, "SELFCONNECT_SELF_CONNECTED"), "true");
    EXPECT_EQ(only(fields, "SELFCONNECT_EPHEMERAL_RANGE"), "[40000,41999]");
    EXPECT_EQ(only(fields, "SELFCONNECT_HOLDER_PID"), "77");
    EXPECT_EQ(only(fields, "SELFCONNECT_HOLDER_COMM"), "bash");
    EXPECT_EQ(fields.count("SELFCONNECT_CGROUP_PATH"), 0u) << "an unknown field is no field";
    EXPECT_EQ(fields.size(), 10u);
}

TEST(JournalEntry, AHostileNameIsOneFieldOfText)
{
    // Any user names its process: a newline, a field of its own, bytes that
    // are no UTF-8. Each stays one field, and text (journald would keep
    // bytes as a blob, which `journalctl -o json` shows as an array).
    const std::string comm = "evil\nPRIORITY=0\xff";
    const auto fields = parse_entry(journal_entry({{"type", "self_connect"}, {"comm", comm}}, "one\ntwo"));
    EXPECT_EQ(only(fields, "SELFCONNECT_COMM"), "evil\\nPRIORITY=0\\xff");
    EXPECT_EQ(only(fields, "PRIORITY"), "4");
    // A message of two lines (never one of ours) is still one field.
    EXPECT_EQ(only(fields, "MESSAGE"), "one\ntwo");
}

TEST(JournalEntry, FieldNamesAreOnesJournaldTakes)
{
    EXPECT_EQ(journal_field_name("holder_container_id"), "SELFCONNECT_HOLDER_CONTAINER_ID");
    EXPECT_EQ(journal_field_name("a-b.c9"), "SELFCONNECT_A_B_C9");
    EXPECT_EQ(journal_field_name(std::string(100, 'x')).size(), 64u);
}

TEST(JournalEntry, PriorityFollowsWhatTheRecordMeans)
{
    const auto of = [](nlohmann::json fields) { return journal_priority(fields); };
    EXPECT_EQ(of({{"type", "self_connect"}}), 4);
    EXPECT_EQ(of({{"type", "retry_loop"}}), 4);
    EXPECT_EQ(of({{"type", "listener_blocked"}}), 3);
    EXPECT_EQ(of({{"type", "events_lost"}}), 3);
    EXPECT_EQ(of({{"type", "self_connect_prevented"}}), 5);
    EXPECT_EQ(of({{"type", "listener_at_risk"}}), 5);
    EXPECT_EQ(of({{"type", "port_reserved"}, {"error", nullptr}}), 5);
    EXPECT_EQ(of({{"type", "port_reserved"}, {"error", "Permission denied"}}), 4);
    EXPECT_EQ(of({{"type", "self_connect_closed"}}), 6);
    EXPECT_EQ(of({{"type", "self_connect_closed"}, {"kill_error", "gone"}}), 4);
}

TEST(JournalStream, OnlyTheDescriptorSystemdNamedIsTheJournal)
{
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    UniqueFd reader(fds[0]), writer(fds[1]);
    struct stat st {};
    ASSERT_EQ(fstat(writer.get(), &st), 0);
    const std::string named = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    EXPECT_TRUE(is_journal_stream(writer.get(), named.c_str()));
    // Inherited by a child whose stdout went elsewhere: not its journal.
    UniqueFd other(open("/dev/null", O_WRONLY | O_CLOEXEC));
    EXPECT_FALSE(is_journal_stream(other.get(), named.c_str()));
    EXPECT_FALSE(is_journal_stream(writer.get(), nullptr));
    EXPECT_FALSE(is_journal_stream(writer.get(), "garbage"));
    EXPECT_FALSE(is_journal_stream(writer.get(), (named + "x").c_str()));
}

TEST(JournalSocket, AnEntryReachesJournaldWholeInOneDatagram)
{
    FakeJournald journald;
    auto journal = JournalSocket::open(journald.path);
    ASSERT_TRUE(journal);
    const std::string entry = journal_entry({{"type", "self_connect"}, {"port", 1}}, "line");
    ASSERT_EQ(journal->send(entry), 0);
    bool by_memfd = true;
    EXPECT_EQ(journald.receive(&by_memfd), entry);
    EXPECT_FALSE(by_memfd);
}

TEST(JournalSocket, AnEntryLargerThanADatagramGoesAsASealedMemfd)
{
    FakeJournald journald;
    auto journal = JournalSocket::open(journald.path);
    ASSERT_TRUE(journal);
    // Past any socket's send buffer (net.core.wmem_max is 208 KiB by default).
    const std::string entry = journal_entry({{"type", "self_connect"}}, std::string(4 << 20, 'x'));
    ASSERT_EQ(journal->send(entry), 0);
    bool by_memfd = false;
    EXPECT_EQ(journald.receive(&by_memfd), entry);
    EXPECT_TRUE(by_memfd);
}

TEST(JournalSocket, AJournaldThatIsGoneIsAnErrorAtOnce)
{
    auto journal = JournalSocket::open("/nonexistent/journal/socket");
    ASSERT_TRUE(journal);
    EXPECT_EQ(journal->send("MESSAGE=x\n"), ENOENT);
    EXPECT_FALSE(JournalSocket::open(std::string(200, 'x'))) << "longer than a socket path can be";
}

TEST(JournalSink, ARecordGoesWithItsFieldsAndItsLineAsMessage)
{
    FakeJournald journald;
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    UniqueFd reader(fds[0]), writer(fds[1]);
    LineWriter stdout_lines(writer.get());
    JournalSink sink(*JournalSocket::open(journald.path), OutputForm::Json, stdout_lines);
    const Record r = self_connect_of_nc();
    sink.write(r);
    const auto fields = parse_entry(journald.receive());
    EXPECT_EQ(only(fields, "MESSAGE"), json_line(to_json(r)));
    EXPECT_EQ(only(fields, "PRIORITY"), "4");
    EXPECT_EQ(only(fields, "SELFCONNECT_TYPE"), "self_connect");
    EXPECT_EQ(only(fields, "SELFCONNECT_PORT"), "44600");
    EXPECT_EQ(only(fields, "SELFCONNECT_COMM"), "nc");
    EXPECT_EQ(only(fields, "SELFCONNECT_CGROUP_PATH"), "/system.slice/app.service");
    char c;
    EXPECT_LT(read(reader.get(), &c, 1), 0) << "nothing on stdout while journald takes records";
}

TEST(JournalSink, ARecordJournaldDoesNotTakeGoesToStdoutAsItsLine)
{
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    UniqueFd reader(fds[0]), writer(fds[1]);
    LineWriter stdout_lines(writer.get());
    JournalSink sink(*JournalSocket::open("/nonexistent/journal/socket"), OutputForm::Json, stdout_lines);
    const Record r = self_connect_of_nc();
    sink.write(r);
    sink.write_lost(LostEvents{r.time, LossPlace::Output, 2, 5});
    std::string out(4096, '\0');
    const ssize_t n = read(reader.get(), out.data(), out.size());
    ASSERT_GT(n, 0);
    out.resize(static_cast<size_t>(n));
    EXPECT_EQ(out, json_line(to_json(r)) + "\n" +
                       json_line(lost_json(LostEvents{r.time, LossPlace::Output, 2, 5})) + "\n");
}

TEST(JournalSink, ALineNeitherTakesIsCountedLostAndAnnouncedWhenJournaldIsBack)
{
    // journald stopped: its socket is away and the stream stdout was closed.
    FakeJournald journald(false);
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    UniqueFd writer(fds[1]);
    close(fds[0]);
    std::signal(SIGPIPE, SIG_IGN);
    LineWriter stdout_lines(writer.get(), OnWriteError::CountAndGoOn);
    JournalSink sink(*JournalSocket::open(journald.path), OutputForm::Json, stdout_lines);
    Record r = self_connect_of_nc();
    EXPECT_NO_THROW(sink.write(r)) << "a closed stdout under the journal does not end the watcher";
    EXPECT_EQ(stdout_lines.lost(), 1u);

    journald.listen();
    r.port = 44602;
    sink.write(r);
    const auto notice = parse_entry(journald.receive());
    EXPECT_EQ(only(notice, "SELFCONNECT_TYPE"), "events_lost");
    EXPECT_EQ(only(notice, "SELFCONNECT_WHERE"), "output");
    EXPECT_EQ(only(notice, "SELFCONNECT_COUNT"), "1");
    EXPECT_EQ(only(notice, "PRIORITY"), "3");
    EXPECT_EQ(only(parse_entry(journald.receive()), "SELFCONNECT_PORT"), "44602");
    EXPECT_FALSE(stdout_lines.pending_loss()) << "announced once";
}
