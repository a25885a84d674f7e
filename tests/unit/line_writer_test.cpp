// Lines are written whole or not at all, losses are counted and announced,
// and a reader that went away ends the output quietly.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "records/line_writer.h"

using namespace selfconnect;

namespace {

struct Pipe {
    int fds[2] = {-1, -1};
    Pipe() { EXPECT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0); }
    ~Pipe()
    {
        for (int fd : fds)
            if (fd >= 0)
                close(fd);
    }
    std::string drain()
    {
        std::string out;
        char buf[4096];
        for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;)
            out.append(buf, static_cast<size_t>(n));
        return out;
    }
};

std::string file_text(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(LineWriter, WritesEachLineWithItsNewline)
{
    Pipe p;
    LineWriter w(p.fds[1]);
    w.write_line("first");
    w.write_line("second");
    EXPECT_EQ(p.drain(), "first\nsecond\n");
    EXPECT_EQ(w.lost(), 0u);
}

TEST(LineWriter, AReaderThatWentAwayEndsTheOutputQuietly)
{
    std::signal(SIGPIPE, SIG_IGN);
    Pipe p;
    close(p.fds[0]);
    p.fds[0] = -1;
    LineWriter w(p.fds[1], OnWriteError::CountAndGoOn);
    EXPECT_THROW(w.write_line("nobody reads this"), OutputClosed);
}

TEST(LineWriter, AOneShotCommandStopsAtAFailedWrite)
{
    const int read_only = open("/dev/null", O_RDONLY | O_CLOEXEC);
    LineWriter w(read_only);
    try {
        w.write_line("x");
        ADD_FAILURE() << "no error";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot write output"), std::string::npos) << e.what();
    }
    close(read_only);
}

TEST(LineWriter, TheDaemonCountsLostLinesAndAnnouncesThemBeforeTheNextOne)
{
    const int read_only = open("/dev/null", O_RDONLY | O_CLOEXEC);
    LineWriter w(read_only, OnWriteError::CountAndGoOn);
    w.set_loss_notice([](uint64_t count, uint64_t total) {
        return "LOST " + std::to_string(count) + " of " + std::to_string(total);
    });
    w.write_line("a");
    w.write_line("b");
    EXPECT_EQ(w.lost(), 2u);
    Pipe p;
    w.redirect(p.fds[1]);
    w.write_line("c");
    w.write_line("d");
    EXPECT_EQ(p.drain(), "LOST 2 of 2\nc\nd\n");
    EXPECT_EQ(w.lost(), 2u);
    close(read_only);
}

// A pipe someone made non-blocking, nearly full: a line longer than the
// pipe's atomic size goes out in parts, and the rest waits for room.
TEST(LineWriter, ANonBlockingPipeThatFillsMidLineGetsTheWholeLine)
{
    Pipe p;
    const int capacity = fcntl(p.fds[1], F_GETPIPE_SZ);
    ASSERT_GT(capacity, 8192);
    const std::string filler(static_cast<size_t>(capacity) - 1000, 'f');
    ASSERT_EQ(write(p.fds[1], filler.data(), filler.size()), static_cast<ssize_t>(filler.size()));
    std::string drained;
    std::thread reader([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        for (int i = 0; i < 100 && drained.size() < filler.size() + 6001; ++i) {
            drained += p.drain();
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });
    LineWriter w(p.fds[1], OnWriteError::CountAndGoOn);
    const std::string line(6000, 'l');
    w.write_line(line);
    reader.join();
    EXPECT_EQ(w.lost(), 0u);
    ASSERT_EQ(drained.size(), filler.size() + line.size() + 1);
    EXPECT_EQ(drained.substr(filler.size()), line + "\n");
}

// A full disk, made with the file-size limit: the line that did not fit is
// cut back, so the file holds whole lines only.
void expect_short_writes_cut_back(int open_flags)
{
    char path[] = "/tmp/sc-line-writer-XXXXXX";
    const int made = mkstemp(path);
    ASSERT_GE(made, 0);
    close(made);
    const int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | open_flags);
    ASSERT_GE(fd, 0);
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit before{};
    getrlimit(RLIMIT_FSIZE, &before);
    rlimit small = before;
    small.rlim_cur = 100;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);

    LineWriter w(fd, OnWriteError::CountAndGoOn);
    const std::string line(59, 'x');  // 60 bytes with its newline
    w.write_line(line);
    w.write_line(line);  // 40 bytes fit, then EFBIG
    w.write_line("short");  // fits after the cut

    setrlimit(RLIMIT_FSIZE, &before);
    close(fd);
    EXPECT_EQ(file_text(path), line + "\nshort\n");
    EXPECT_EQ(w.lost(), 1u);
    unlink(path);
}

TEST(LineWriter, AShortWriteToAnAppendedFileIsCutBackToWholeLines)
{
    expect_short_writes_cut_back(O_APPEND);
}

TEST(LineWriter, AShortWriteToAFileIsCutBackToWholeLines)
{
    expect_short_writes_cut_back(0);
}

}  // namespace
