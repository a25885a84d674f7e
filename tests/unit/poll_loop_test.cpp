// The watch's event loop with pipes for sources: each readable descriptor
// reaches its handler, the after-work runs on every wake, and stop() and
// done() end the run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "host/unique_fd.h"
#include "watch/poll_loop.h"

using namespace selfconnect;

namespace {
struct Pipe {
    UniqueFd read_end, write_end;
    Pipe()
    {
        int fds[2];
        EXPECT_EQ(pipe(fds), 0);
        read_end = UniqueFd(fds[0]);
        write_end = UniqueFd(fds[1]);
    }
    void put(char c) { ASSERT_EQ(write(write_end.get(), &c, 1), 1); }
    char take()
    {
        char c = 0;
        EXPECT_EQ(read(read_end.get(), &c, 1), 1);
        return c;
    }
};
}  // namespace

TEST(PollLoop, EachReadableSourceReachesItsOwnHandlerThenTheAfterWork)
{
    Pipe ring, answers, silent;
    PollLoop loop;
    std::string seen;
    loop.watch(ring.read_end.get(), [&] { seen += std::string("ring:") + ring.take() + " "; });
    loop.watch(answers.read_end.get(), [&] { seen += std::string("answers:") + answers.take() + " "; });
    loop.watch(silent.read_end.get(), [&] { seen += "silent "; });
    loop.watch(-1, [&] { seen += "absent "; });  // a source this run does not have
    ring.put('a');
    answers.put('b');
    int wakes = 0;
    loop.run([] { return 1000; },
             [&] {
                 ++wakes;
                 seen += "after ";
                 loop.stop();
             },
             [] { return false; });
    EXPECT_EQ(wakes, 1) << seen;
    EXPECT_NE(seen.find("ring:a "), std::string::npos) << seen;
    EXPECT_NE(seen.find("answers:b "), std::string::npos) << seen;
    EXPECT_EQ(seen.find("silent"), std::string::npos) << seen;
    EXPECT_EQ(seen.find("absent"), std::string::npos) << seen;
    EXPECT_EQ(seen.substr(seen.size() - 6), "after ") << "the after-work follows the handlers: " << seen;
}

TEST(PollLoop, TheAfterWorkRunsOnTimeoutsTooAndAStopFromAHandlerEndsTheRunAfterIt)
{
    Pipe signals;
    PollLoop loop;
    loop.watch(signals.read_end.get(), [&] {
        signals.take();
        loop.stop();
    });
    int wakes = 0;
    loop.run([] { return 1; },
             [&] {
                 if (++wakes == 3)
                     signals.put('s');  // three timeouts, then a stop signal
             },
             [] { return false; });
    EXPECT_EQ(wakes, 4) << "three timeouts, and the wake of the signal, whose after-work still ran";
}

TEST(PollLoop, ARunAlreadyDoneNeverWaits)
{
    PollLoop loop;
    int wakes = 0;
    loop.run([] { return 60'000; }, [&] { ++wakes; }, [] { return true; });
    EXPECT_EQ(wakes, 0);
}
